package lockcore

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

// FenceTTL is how long a fence key outlives the last grant of its lock.
const FenceTTL = fenceTTL
