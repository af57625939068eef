package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/bsm/redislock"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/jobrunner/jobrunner/runner"
)

// errHandInFlight is the hand-rolled composition's answer to a job whose
// dedupe key is being run elsewhere: asynq retries it later.
var errHandInFlight = errors.New("bench: in flight elsewhere")

// costHand is what an asynq user writes by hand instead of the stack, as
// issue 30 describes it, for the layers of l: the payload decoded with
// encoding/json; for a dedupe key a GET of its done key and a SET NX of its
// in-flight key in one pipeline (a done key skips the job, a held in-flight
// key makes asynq retry it); for a lock bsm/redislock's Obtain (no retry,
// no renewal, no fence) and Release; for a dependency sony/gobreaker
// around the handler; at the end a pipeline of SET of the done key (24h)
// and DEL of the in-flight key. Nothing a careful user would skip (keys in
// one hash tag, the in-flight key released on failure, the lock released
// on a detached context), and nothing slower than they would write.
func costHand(b *testing.B, rdb *redis.Client, l layers, done func()) func() {
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: costSlots, TaskCheckInterval: runner.PollIntervalDefault, LogLevel: asynq.ErrorLevel,
	})
	locker := redislock.New(rdb)
	cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench-dep"})
	handle := func() error {
		if l.wait > 0 {
			time.Sleep(l.wait)
		}
		done()
		return nil
	}
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench.noop", func(ctx context.Context, t *asynq.Task) error {
		var p noop
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return err
		}
		key := "{hand:" + strconv.Itoa(p.N) + "}"
		doneKey, inflightKey := key+":done", key+":inflight"
		if l.dedupe {
			id, _ := asynq.GetTaskID(ctx)
			pipe := rdb.Pipeline()
			seen := pipe.Exists(ctx, doneKey)
			took := pipe.SetNX(ctx, inflightKey, id, 5*time.Minute)
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
			if seen.Val() > 0 {
				return nil
			}
			if !took.Val() {
				return errHandInFlight
			}
		}
		err := func() error {
			if l.lock {
				lock, err := locker.Obtain(ctx, key+":lock", 30*time.Second, nil)
				if err != nil {
					return err
				}
				defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
			}
			if l.breaker {
				_, err := cb.Execute(func() (struct{}, error) { return struct{}{}, handle() })
				return err
			}
			return handle()
		}()
		if !l.dedupe {
			return err
		}
		pipe := rdb.Pipeline()
		if err == nil {
			pipe.Set(ctx, doneKey, 1, 24*time.Hour)
		}
		pipe.Del(ctx, inflightKey)
		if _, perr := pipe.Exec(context.WithoutCancel(ctx)); perr != nil && err == nil {
			err = perr
		}
		return err
	})
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	return srv.Shutdown
}
