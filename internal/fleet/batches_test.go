package fleet_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/batchdb"
	"github.com/jobrunner/jobrunner/internal/fleet"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestReadBatches: on every topology (the index is in another Cluster
// slot than the batches), the batches section lists a batch in progress
// with its counts, not a finished one (dropped from the index or not),
// nor the callback's payload; BatchesMax bounds what is read.
func TestReadBatches(t *testing.T) {
	for _, topo := range redistest.Topologies() {
		t.Run(topo.Name, func(t *testing.T) {
			env := topo.Start(t)
			rdb := env.Client
			ctx := context.Background()
			now := time.Now()
			cb := batchdb.Callback{Type: "batch.report", Payload: []byte(`{"token":"` + payloadSecret + `"}`), Queue: "default"}
			open := func(id string, at time.Time, members ...string) {
				t.Helper()
				if err := batchdb.Open(ctx, rdb, id, time.Hour, cb, at); err != nil {
					t.Fatal(err)
				}
				if len(members) > 0 {
					if _, err := batchdb.Add(ctx, rdb, id, members); err != nil {
						t.Fatal(err)
					}
				}
			}
			count := func(id, member string, archived bool) batchdb.Due {
				t.Helper()
				d, err := batchdb.Count(ctx, rdb, id, member, "task-"+member, archived)
				if err != nil {
					t.Fatal(err)
				}
				return d
			}

			// In progress: three jobs, two counted (one archived), open.
			open("running", now.Add(-3*time.Minute), "m1", "m2", "m3")
			count("running", "m1", false)
			count("running", "m2", true)
			// Finished: its callback enqueued, which drops it from the index.
			open("finished", now.Add(-2*time.Minute), "f1")
			if _, err := batchdb.Close(ctx, rdb, "finished"); err != nil {
				t.Fatal(err)
			}
			if d := count("finished", "f1", false); !d.Due {
				t.Fatalf("finished batch not due: %+v", d)
			}
			if err := batchdb.MarkEnqueued(ctx, rdb, "finished", now); err != nil {
				t.Fatal(err)
			}
			if _, err := rdb.ZScore(ctx, batchdb.IndexKey, "finished").Result(); err == nil {
				t.Error("a finished batch is still in the index")
			}
			// Finished but left in the index (its drop failed): skipped.
			open("stale", now.Add(-time.Minute))
			rdb.HSet(ctx, batchdb.MetaKey("stale"), "enqueued", 1)
			// Closed, empty, newest.
			open("closed", now)
			rdb.HSet(ctx, batchdb.MetaKey("closed"), "closed", 1)

			st := fleet.Read(ctx, fleet.Config{Redis: rdb, Now: func() time.Time { return now }})
			if len(st.Errors) > 0 {
				t.Fatalf("errors: %+v", st.Errors)
			}
			out, _ := json.Marshal(st)
			t.Logf("%s", out)
			if strings.Contains(string(out), payloadSecret) {
				t.Fatal("the status shows a callback's payload")
			}
			b := st.Batches
			if b.Indexed != 3 || b.Read != 3 || b.Finished != 1 || len(b.InProgress) != 2 {
				t.Fatalf("batches: %+v; want closed and running listed of 3 indexed, stale skipped", b)
			}
			if c := b.InProgress[0]; c.ID != "closed" || !c.Closed || c.Total != 0 || c.AgeMS != 0 {
				t.Errorf("newest: %+v", c)
			}
			r := b.InProgress[1]
			if r.ID != "running" || r.Total != 3 || r.Done != 2 || r.Succeeded != 1 || r.Archived != 1 || r.Closed ||
				r.Callback != "batch.report" || r.Opened != fleet.Stamp(now.Add(-3*time.Minute)) || r.AgeMS != 3*60*1000 {
				t.Errorf("running: %+v; want total 3, done 2 (1 archived), open", r)
			}

			st = fleet.Read(ctx, fleet.Config{Redis: rdb, BatchesMax: 1, Now: func() time.Time { return now }})
			if b := st.Batches; b.Read != 1 || b.Indexed != 3 || len(b.InProgress) != 1 || b.InProgress[0].ID != "closed" {
				t.Errorf("BatchesMax 1: %+v", b)
			}

			ttl, err := rdb.PTTL(ctx, batchdb.IndexKey).Result()
			if err != nil || ttl <= 7*24*time.Hour-time.Minute || ttl > 7*24*time.Hour {
				t.Errorf("index TTL %v, %v; want 7 days", ttl, err)
			}
		})
	}
}
