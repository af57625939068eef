package fleet

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/batchdb"
)

// BatchesMaxDefault is the default of Config.BatchesMax.
const BatchesMaxDefault = 50

// Batches is the batches in progress: those of the newest in the index of
// batches (jobrunner:batches, the newest 1000 opened within 7 days) whose
// callback is not enqueued yet.
type Batches struct {
	// InProgress are the batches read that are open or not finished yet,
	// the newest first.
	InProgress []BatchStatus `json:"in_progress"`
	// Indexed is how many batches the index holds (at most 1000),
	// finished ones that it did not drop included.
	Indexed int `json:"indexed"`
	// Read is how many of the newest of them were read (at most
	// Config.BatchesMax, default 50); Finished how many of those were
	// finished (their callback enqueued) or expired, and not listed.
	Read     int `json:"read"`
	Finished int `json:"finished"`
}

// BatchStatus is a batch in progress. Its callback's payload is not shown.
type BatchStatus struct {
	ID string `json:"id"`
	// Total is the jobs added to the batch; Done those finished for good,
	// Succeeded the completed ones (or skipped as duplicates) and Archived
	// the archived ones among them.
	Total     int `json:"total"`
	Done      int `json:"done"`
	Succeeded int `json:"succeeded"`
	Archived  int `json:"archived"`
	// Closed is set once the batch takes no more jobs: its callback is
	// enqueued when every job is done.
	Closed bool `json:"closed"`
	// Callback is the callback's job type.
	Callback string `json:"callback"`
	// Opened is when the batch was opened; AgeMS how long ago.
	Opened string `json:"opened"`
	AgeMS  int64  `json:"age_ms"`
}

// batchFields are the meta fields read of each batch (not the callback's
// payload).
var batchFields = []string{"total", "done", "succeeded", "archived", "closed", "enqueued", "created_ms", "cb_type"}

// readBatches reads the newest cfg.BatchesMax batches of the index and
// lists those in progress: two round trips (one pipeline each, the
// second across the batches' slots), whatever the number of batches.
func readBatches(ctx context.Context, cfg Config, now time.Time) (Batches, error) {
	var ids *redis.StringSliceCmd
	var card *redis.IntCmd
	_, err := cfg.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		ids = p.ZRevRange(ctx, batchdb.IndexKey, 0, int64(cfg.BatchesMax-1))
		card = p.ZCard(ctx, batchdb.IndexKey)
		return nil
	})
	if err != nil {
		return Batches{}, err
	}
	b := Batches{Indexed: int(card.Val()), Read: len(ids.Val())}
	if b.Read == 0 {
		return b, nil
	}
	metas := make([]*redis.SliceCmd, b.Read)
	_, err = cfg.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids.Val() {
			metas[i] = p.HMGet(ctx, batchdb.MetaKey(id), batchFields...)
		}
		return nil
	})
	if err != nil {
		return b, err
	}
	for i, id := range ids.Val() {
		v := metas[i].Val()
		str := func(j int) string { s, _ := v[j].(string); return s }
		num := func(j int) int { n, _ := strconv.Atoi(str(j)); return n }
		if len(v) != len(batchFields) || v[0] == nil || str(5) == "1" {
			b.Finished++ // expired, or its callback enqueued
			continue
		}
		bs := BatchStatus{ID: id, Total: num(0), Done: num(1), Succeeded: num(2), Archived: num(3),
			Closed: str(4) == "1", Callback: str(7)}
		if ms, err := strconv.ParseInt(str(6), 10, 64); err == nil && ms > 0 {
			opened := time.UnixMilli(ms)
			bs.Opened, bs.AgeMS = Stamp(opened), max(Ms(now.Sub(opened)), 0)
		}
		b.InProgress = append(b.InProgress, bs)
	}
	return b, nil
}
