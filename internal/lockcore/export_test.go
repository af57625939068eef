package lockcore

import (
	"strconv"
	"strings"
)

// Test-only exports for the external test package.
var HashSlot = hashSlot

// Queued returns how many calls wait for the next pipeline of s.
func Queued(s *RedisStore) int {
	s.batch.mu.Lock()
	defer s.batch.mu.Unlock()
	return len(s.batch.queue)
}

// MaxInline is how many callers send their own pipelines before calls
// queue.
const MaxInline = maxInline

// FenceTTL is how long a lock key, with its fence, outlives its last write.
const FenceTTL = fenceTTL

// ParseLock reads a lock key's value (see lua/lock.lua): its fence, its
// holder's deadline in server milliseconds and its owner (0 and "" when
// free).
func ParseLock(v string) (fence, deadline int64, owner string, ok bool) {
	rest, ok := strings.CutPrefix(v, "L")
	if !ok {
		fence, err := strconv.ParseInt(v, 10, 64) // free: the fence alone
		return fence, 0, "", err == nil
	}
	f, rest, ok1 := strings.Cut(rest, ":")
	d, owner, ok2 := strings.Cut(rest, ":")
	fence, err1 := strconv.ParseInt(f, 10, 64)
	deadline, err2 := strconv.ParseInt(d, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return 0, 0, "", false
	}
	return fence, deadline, owner, true
}
