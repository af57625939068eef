package batchdb_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/batchdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

var cb = batchdb.Callback{Type: "batch.report", Payload: []byte(`{}`), Queue: "default", Timeout: time.Minute, MaxRetry: 3}

// TestBatchOnEveryTopology runs the batch's life on one server, a cluster
// and Sentinel: members counted once however often they are counted, the
// callback due exactly once, to exactly one of many concurrent counters,
// after the last member and never before; an empty batch due at Close.
func TestBatchOnEveryTopology(t *testing.T) {
	for _, topo := range redistest.Topologies() {
		t.Run(topo.Name, func(t *testing.T) {
			env := topo.Start(t)
			rdb := env.Client
			ctx := context.Background()
			now := time.Now()

			t.Run("counted once, due once", func(t *testing.T) {
				id := "b1-" + topo.Name
				if err := batchdb.Open(ctx, rdb, id, time.Hour, cb, now); err != nil {
					t.Fatal(err)
				}
				if err := batchdb.Open(ctx, rdb, id, time.Hour, cb, now); !errors.Is(err, batchdb.ErrExists) {
					t.Fatalf("second Open: %v, want ErrExists", err)
				}
				var members []string
				for i := range 50 {
					members = append(members, fmt.Sprintf("m%d", i))
				}
				if n, err := batchdb.Add(ctx, rdb, id, members[:30]); err != nil || n != 30 {
					t.Fatalf("Add: %d, %v", n, err)
				}
				if n, err := batchdb.Add(ctx, rdb, id, members[20:]); err != nil || n != 50 {
					t.Fatalf("Add again (10 repeated): %d, %v; want 50", n, err)
				}
				// All but the last, each counted three times, concurrently.
				var wg sync.WaitGroup
				var mu sync.Mutex
				dues := 0
				for _, m := range members[:49] {
					for range 3 {
						wg.Go(func() {
							d, err := batchdb.Count(ctx, rdb, id, m, "task-"+m, m == "m7")
							if err != nil {
								t.Error(err)
							}
							mu.Lock()
							if d.Due {
								dues++
							}
							mu.Unlock()
						})
					}
				}
				wg.Wait()
				if dues != 0 {
					t.Fatalf("due %d times before the batch was closed", dues)
				}
				d, err := batchdb.Close(ctx, rdb, id)
				if err != nil || d.Due || d.Done != 49 || d.Total != 50 {
					t.Fatalf("Close with one member left: %+v, %v", d, err)
				}
				if _, err := batchdb.Add(ctx, rdb, id, []string{"late"}); !errors.Is(err, batchdb.ErrClosed) {
					t.Fatalf("Add after Close: %v, want ErrClosed", err)
				}
				if _, err := batchdb.Count(ctx, rdb, id, "stranger", "x", false); !errors.Is(err, batchdb.ErrNotMember) {
					t.Fatalf("Count of a stranger: %v, want ErrNotMember", err)
				}
				for range 4 {
					wg.Go(func() {
						d, err := batchdb.Count(ctx, rdb, id, "m49", "task-m49", false)
						if err != nil {
							t.Error(err)
						}
						mu.Lock()
						if d.Due {
							dues++
							if d.Callback.Type != cb.Type || string(d.Callback.Payload) != "{}" || d.Callback.MaxRetry != 3 ||
								d.Callback.Timeout != time.Minute || d.TTL != time.Hour {
								t.Errorf("due callback %+v, ttl %v", d.Callback, d.TTL)
							}
						}
						mu.Unlock()
					})
				}
				wg.Wait()
				// Not marked enqueued: every count reports it due again
				// (the enqueue after the first may have been lost).
				if dues != 4 {
					t.Fatalf("due reported %d times before MarkEnqueued, want 4 (each call)", dues)
				}
				c := asynq.NewClientFromRedisClient(rdb)
				due, err := batchdb.Count(ctx, rdb, id, "m49", "task-m49", false)
				if err != nil || !due.Due {
					t.Fatalf("Count: %+v, %v", due, err)
				}
				if err := batchdb.EnqueueCallback(ctx, c, rdb, id, due, now); err != nil {
					t.Fatal(err)
				}
				if err := batchdb.EnqueueCallback(ctx, c, rdb, id, due, now); err != nil {
					t.Fatalf("a repeated enqueue: %v", err)
				}
				if d, err := batchdb.Count(ctx, rdb, id, "m49", "task-m49", false); err != nil || d.Due {
					t.Fatalf("Count after the callback was enqueued: %+v, %v", d, err)
				}
				if d, err := batchdb.Close(ctx, rdb, id); err != nil || d.Due {
					t.Fatalf("Close after the callback was enqueued: %+v, %v", d, err)
				}
				st, err := batchdb.Read(ctx, rdb, id)
				if err != nil {
					t.Fatal(err)
				}
				if st.Total != 50 || st.Done != 50 || st.Succeeded != 49 || st.Archived != 1 || !st.Closed || !st.Finished ||
					len(st.ArchivedIDs) != 1 || st.ArchivedIDs[0] != "task-m7" || st.CallbackType != cb.Type {
					t.Fatalf("status %+v", st)
				}
				info, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo("default", batchdb.CallbackTaskID(id))
				if err != nil {
					t.Fatalf("the callback task: %v", err)
				}
				if info.Headers[batchdb.HeaderCallback] != id {
					t.Fatalf("callback headers %v", info.Headers)
				}
				for _, k := range []string{batchdb.MetaKey(id), batchdb.MembersKey(id), batchdb.ArchivedKey(id)} {
					if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
						t.Errorf("%s: TTL %v, want (0, 1h]", k, ttl)
					}
				}
			})

			t.Run("empty batch due at close", func(t *testing.T) {
				id := "b2-" + topo.Name
				if err := batchdb.Open(ctx, rdb, id, time.Hour, cb, now); err != nil {
					t.Fatal(err)
				}
				d, err := batchdb.Close(ctx, rdb, id)
				if err != nil || !d.Due || d.Total != 0 {
					t.Fatalf("Close of an empty batch: %+v, %v; want due", d, err)
				}
			})

			t.Run("removed members are not waited for", func(t *testing.T) {
				id := "b3-" + topo.Name
				if err := batchdb.Open(ctx, rdb, id, time.Hour, cb, now); err != nil {
					t.Fatal(err)
				}
				if _, err := batchdb.Add(ctx, rdb, id, []string{"a", "b", "c"}); err != nil {
					t.Fatal(err)
				}
				if _, err := batchdb.Count(ctx, rdb, id, "a", "a", false); err != nil {
					t.Fatal(err)
				}
				if n, err := batchdb.Remove(ctx, rdb, id, []string{"a", "c"}); err != nil || n != 2 {
					t.Fatalf("Remove: total %d, %v; want 2 (a was counted and stays)", n, err)
				}
				d, err := batchdb.Close(ctx, rdb, id)
				if err != nil || d.Due {
					t.Fatalf("Close: %+v, %v", d, err)
				}
				if d, err := batchdb.Count(ctx, rdb, id, "b", "b", false); err != nil || !d.Due {
					t.Fatalf("Count of the last: %+v, %v; want due", d, err)
				}
			})

			t.Run("unknown batch", func(t *testing.T) {
				if _, err := batchdb.Count(ctx, rdb, "nope", "a", "a", false); !errors.Is(err, batchdb.ErrNotFound) {
					t.Fatalf("Count: %v", err)
				}
				if _, err := batchdb.Read(ctx, rdb, "nope"); !errors.Is(err, batchdb.ErrNotFound) {
					t.Fatalf("Read: %v", err)
				}
			})
		})
	}
}

// TestIndexBounded: Open notes each batch in the index of batches, which
// keeps the newest IndexMax and expires IndexTTL after the last open.
func TestIndexBounded(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client()
	ctx := context.Background()
	start := time.Now().Add(-time.Hour)
	for i := range batchdb.IndexMax + 5 {
		if err := batchdb.Open(ctx, rdb, fmt.Sprintf("b%d", i), time.Hour, cb, start.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if n := rdb.ZCard(ctx, batchdb.IndexKey).Val(); n != batchdb.IndexMax {
		t.Errorf("index holds %d batches; want %d", n, batchdb.IndexMax)
	}
	if _, err := rdb.ZScore(ctx, batchdb.IndexKey, "b4").Result(); err == nil {
		t.Error("the oldest batches are still in the index")
	}
	if newest := rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: batchdb.IndexKey, Start: 0, Stop: 0, Rev: true}).Val(); len(newest) != 1 || newest[0] != fmt.Sprintf("b%d", batchdb.IndexMax+4) {
		t.Errorf("newest %v", newest)
	}
	if ttl := rdb.PTTL(ctx, batchdb.IndexKey).Val(); ttl <= batchdb.IndexTTL-time.Minute || ttl > batchdb.IndexTTL {
		t.Errorf("index TTL %v; want %v", ttl, batchdb.IndexTTL)
	}
	// A second Open of an ID does not note it again.
	if err := batchdb.Open(ctx, rdb, "b4", time.Hour, cb, time.Now()); !errors.Is(err, batchdb.ErrExists) {
		t.Fatalf("Open of an existing ID: %v", err)
	}
	if _, err := rdb.ZScore(ctx, batchdb.IndexKey, "b4").Result(); err == nil {
		t.Error("a refused Open noted the batch")
	}
	// A batch with a longer TTL than the index's keeps the index as long;
	// a shorter one opened after it does not shorten it.
	long := 30 * 24 * time.Hour
	if err := batchdb.Open(ctx, rdb, "long", long, cb, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := batchdb.Open(ctx, rdb, "short", time.Hour, cb, time.Now()); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, batchdb.IndexKey).Val(); ttl <= long-time.Minute || ttl > long {
		t.Errorf("index TTL %v after a batch of %v and a shorter one; want %v", ttl, long, long)
	}
}
