package fleet

import (
	"context"
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
	found, err := batchdb.ReadMany(ctx, cfg.Redis, ids.Val())
	if err != nil {
		return b, err
	}
	for _, st := range found {
		if st.Finished {
			continue
		}
		bs := BatchStatus{ID: st.ID, Total: st.Total, Done: st.Done, Succeeded: st.Succeeded, Archived: st.Archived,
			Closed: st.Closed, Callback: st.CallbackType}
		if !st.Created.IsZero() {
			bs.Opened, bs.AgeMS = Stamp(st.Created), max(Ms(now.Sub(st.Created)), 0)
		}
		b.InProgress = append(b.InProgress, bs)
	}
	b.Finished = b.Read - len(b.InProgress) // expired, or their callback enqueued
	return b, nil
}
