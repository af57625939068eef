package batchdb

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Status is a batch's state as Redis holds it.
type Status struct {
	ID string
	// Total is how many jobs the batch has; Done how many of them
	// finished for good, Succeeded completed (or were skipped as
	// duplicates of a job that had completed) and Archived were archived.
	Total, Done, Succeeded, Archived int
	// Closed is set once the batch takes no more jobs.
	Closed bool
	// Finished is set once the callback is enqueued.
	Finished bool
	// ArchivedIDs are the task IDs of archived jobs, at most
	// ArchivedIDsMax of them, in the order they were archived.
	ArchivedIDs []string
	// Created is when the batch was opened; FinishedAt when its callback
	// was enqueued.
	Created, FinishedAt time.Time
	// CallbackType is the callback's job type.
	CallbackType string
}

// Read returns batch id's status, or ErrNotFound.
func Read(ctx context.Context, rdb redis.Cmdable, id string) (Status, error) {
	var meta *redis.MapStringStringCmd
	var archived *redis.StringSliceCmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		meta = p.HGetAll(ctx, MetaKey(id))
		archived = p.LRange(ctx, ArchivedKey(id), 0, ArchivedIDsMax-1)
		return nil
	})
	if err != nil {
		return Status{}, fmt.Errorf("batchdb: read %s: %w", id, err)
	}
	m := meta.Val()
	if len(m) == 0 {
		return Status{}, ErrNotFound
	}
	n := func(k string) int { v, _ := strconv.Atoi(m[k]); return v }
	ms := func(k string) time.Time {
		if v, err := strconv.ParseInt(m[k], 10, 64); err == nil && v > 0 {
			return time.UnixMilli(v)
		}
		return time.Time{}
	}
	return Status{ID: id, Total: n("total"), Done: n("done"), Succeeded: n("succeeded"), Archived: n("archived"),
		Closed: m["closed"] == "1", Finished: m["enqueued"] == "1", ArchivedIDs: archived.Val(),
		Created: ms("created_ms"), FinishedAt: ms("finished_ms"), CallbackType: m["cb_type"]}, nil
}
