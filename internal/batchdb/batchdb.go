package batchdb

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Task headers.
const (
	// HeaderBatch carries the ID of the batch a job is a member of.
	HeaderBatch = "jobrunner-batch"
	// HeaderMember carries the job's member ID in its batch: the ID of
	// the task first enqueued, kept by every copy of it.
	HeaderMember = "jobrunner-batch-member"
	// HeaderCallback carries, on a batch's callback task, the batch's ID.
	HeaderCallback = "jobrunner-batch-callback"
)

const (
	// TTLDefault is how long a batch's keys live after its last write.
	TTLDefault = 7 * 24 * time.Hour
	// ArchivedIDsMax bounds the archived task IDs a batch keeps.
	ArchivedIDsMax = 1000
	// addChunk is how many members one add script call registers.
	addChunk = 1000
)

// Errors of the batch scripts.
var (
	ErrExists    = errors.New("batchdb: a batch with this ID exists")
	ErrNotFound  = errors.New("batchdb: no such batch (never opened, or expired)")
	ErrClosed    = errors.New("batchdb: batch is closed")
	ErrNotMember = errors.New("batchdb: not a member of the batch")
)

var (
	//go:embed lua/due.lua
	dueLua string
	//go:embed lua/open.lua
	openLua string
	//go:embed lua/add.lua
	addLua string
	//go:embed lua/remove.lua
	removeLua string
	//go:embed lua/count.lua
	countLua string
	//go:embed lua/close.lua
	closeLua string
	//go:embed lua/index.lua
	indexLua string

	openScript   = redis.NewScript(openLua)
	addScript    = redis.NewScript(dueLua + addLua)
	removeScript = redis.NewScript(dueLua + removeLua)
	countScript  = redis.NewScript(dueLua + countLua)
	closeScript  = redis.NewScript(dueLua + closeLua)
	indexScript  = redis.NewScript(indexLua)
)

// Callback is the job enqueued once a batch is finished.
type Callback struct {
	Type     string
	Payload  []byte
	Queue    string
	Timeout  time.Duration // whole seconds, as asynq stores it
	MaxRetry int
}

// Due is the state Count and Close report.
type Due struct {
	// Due is set when the caller must enqueue the callback (and then call
	// MarkEnqueued).
	Due         bool
	Done, Total int
	// Callback and TTL are set when Due is.
	Callback Callback
	TTL      time.Duration
}

// Open creates batch id, open, with callback cb, whose keys live ttl
// after each write. It returns ErrExists when id is taken. It then notes
// the batch in the index of batches (IndexKey); a failure to do so does
// not fail the open: the index only serves the status page.
func Open(ctx context.Context, rdb redis.Scripter, id string, ttl time.Duration, cb Callback, now time.Time) error {
	n, err := openScript.Run(ctx, rdb, []string{MetaKey(id)}, ttl.Milliseconds(),
		"cb_type", cb.Type, "cb_payload", cb.Payload, "cb_queue", cb.Queue,
		"cb_timeout", int64(cb.Timeout/time.Second), "cb_retry", cb.MaxRetry,
		"created_ms", now.UnixMilli()).Int64()
	switch {
	case err != nil:
		return fmt.Errorf("batchdb: open %s: %w", id, err)
	case n == 0:
		return ErrExists
	}
	_ = noteIndex(ctx, rdb, id, now, max(ttl, IndexTTL))
	return nil
}

// noteIndex adds batch id, opened at now, to the index of batches, keeps
// the newest IndexMax and makes the index live at least ttl (index.lua, on
// that one key: its own Cluster slot).
func noteIndex(ctx context.Context, rdb redis.Scripter, id string, now time.Time, ttl time.Duration) error {
	err := indexScript.Run(ctx, rdb, []string{IndexKey}, now.UnixMilli(), id, IndexMax, ttl.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("batchdb: index %s: %w", id, err)
	}
	return nil
}

// Add registers members (their member IDs) in open batch id and returns
// the batch's total. Registering an ID twice adds it once.
func Add(ctx context.Context, rdb redis.Scripter, id string, members []string) (int, error) {
	total := 0
	for len(members) > 0 {
		n := min(len(members), addChunk)
		t, err := addScript.Run(ctx, rdb, keys(id), anys(members[:n])...).Int()
		switch {
		case err != nil:
			return 0, fmt.Errorf("batchdb: add to %s: %w", id, err)
		case t == -1:
			return 0, ErrNotFound
		case t == -2:
			return 0, ErrClosed
		}
		total, members = t, members[n:]
	}
	return total, nil
}

// Remove unregisters members not counted yet (jobs whose enqueue failed)
// and returns the batch's total.
func Remove(ctx context.Context, rdb redis.Scripter, id string, members []string) (int, error) {
	total := 0
	for len(members) > 0 {
		n := min(len(members), addChunk)
		t, err := removeScript.Run(ctx, rdb, keys(id), anys(members[:n])...).Int()
		switch {
		case err != nil:
			return 0, fmt.Errorf("batchdb: remove from %s: %w", id, err)
		case t == -1:
			return 0, ErrNotFound
		}
		total, members = t, members[n:]
	}
	return total, nil
}

// Count counts member of batch id as finished for good: archived, or
// completed (or skipped as a duplicate). taskID is listed among the
// archived IDs. A member is counted once, however often Count is called;
// each call reports whether the callback is due.
func Count(ctx context.Context, rdb redis.Scripter, id, member, taskID string, archived bool) (Due, error) {
	outcome := "s"
	if archived {
		outcome = "a"
	}
	v, err := countScript.Run(ctx, rdb, keys(id), member, outcome, taskID, ArchivedIDsMax).Slice()
	if err != nil {
		return Due{}, fmt.Errorf("batchdb: count %s in %s: %w", member, id, err)
	}
	return parseDue(v)
}

// Close closes batch id and reports whether its callback is due (every
// member counted, or none).
func Close(ctx context.Context, rdb redis.Scripter, id string) (Due, error) {
	v, err := closeScript.Run(ctx, rdb, keys(id)).Slice()
	if err != nil {
		return Due{}, fmt.Errorf("batchdb: close %s: %w", id, err)
	}
	return parseDue(v)
}

// MarkEnqueued records that batch id's callback is enqueued: Count and
// Close stop reporting it due. It drops the batch from the index of
// batches in the same round trip (a failure to do so is ignored: the
// status page skips finished batches).
func MarkEnqueued(ctx context.Context, rdb redis.Cmdable, id string, now time.Time) error {
	var mark *redis.IntCmd
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		mark = p.HSet(ctx, MetaKey(id), "enqueued", 1, "finished_ms", now.UnixMilli())
		p.ZRem(ctx, IndexKey, id)
		return nil
	})
	if err := mark.Err(); err != nil {
		return fmt.Errorf("batchdb: mark %s enqueued: %w", id, err)
	}
	return nil
}

func parseDue(v []any) (Due, error) {
	if len(v) < 3 {
		return Due{}, fmt.Errorf("batchdb: unexpected reply %v", v)
	}
	switch toInt(v[0]) {
	case -1:
		return Due{}, ErrNotFound
	case -2:
		return Due{}, ErrNotMember
	}
	d := Due{Due: toInt(v[0]) == 1, Done: toInt(v[1]), Total: toInt(v[2])}
	if d.Due {
		if len(v) < 9 {
			return Due{}, fmt.Errorf("batchdb: unexpected reply %v", v)
		}
		d.Callback = Callback{Type: toString(v[3]), Payload: []byte(toString(v[4])), Queue: toString(v[5]),
			Timeout: time.Duration(toInt(v[6])) * time.Second, MaxRetry: toInt(v[7])}
		d.TTL = time.Duration(toInt(v[8])) * time.Millisecond
	}
	return d, nil
}

func toInt(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
