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

// statusFields are the meta fields a Status holds, in parseStatus's order:
// not the callback's payload.
var statusFields = []string{"total", "done", "succeeded", "archived", "closed", "enqueued", "created_ms", "finished_ms", "cb_type"}

// parseStatus reads an HMGET of statusFields; ok is false for a batch that
// is gone (open.lua always sets total).
func parseStatus(id string, v []any) (st Status, ok bool) {
	if len(v) != len(statusFields) || v[0] == nil {
		return Status{}, false
	}
	str := func(i int) string { s, _ := v[i].(string); return s }
	n := func(i int) int { n, _ := strconv.Atoi(str(i)); return n }
	ms := func(i int) time.Time {
		if t, err := strconv.ParseInt(str(i), 10, 64); err == nil && t > 0 {
			return time.UnixMilli(t)
		}
		return time.Time{}
	}
	return Status{ID: id, Total: n(0), Done: n(1), Succeeded: n(2), Archived: n(3),
		Closed: str(4) == "1", Finished: str(5) == "1", Created: ms(6), FinishedAt: ms(7), CallbackType: str(8)}, true
}

// Read returns batch id's status, or ErrNotFound.
func Read(ctx context.Context, rdb redis.Cmdable, id string) (Status, error) {
	var meta *redis.SliceCmd
	var archived *redis.StringSliceCmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		meta = p.HMGet(ctx, MetaKey(id), statusFields...)
		archived = p.LRange(ctx, ArchivedKey(id), 0, ArchivedIDsMax-1)
		return nil
	})
	if err != nil {
		return Status{}, fmt.Errorf("batchdb: read %s: %w", id, err)
	}
	st, ok := parseStatus(id, meta.Val())
	if !ok {
		return Status{}, ErrNotFound
	}
	st.ArchivedIDs = archived.Val()
	return st, nil
}

// ReadMany returns the status of each batch of ids that still exists, in
// ids' order and without ArchivedIDs, in one pipeline (across the
// batches' slots on a cluster).
func ReadMany(ctx context.Context, rdb redis.Cmdable, ids []string) ([]Status, error) {
	metas := make([]*redis.SliceCmd, len(ids))
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			metas[i] = p.HMGet(ctx, MetaKey(id), statusFields...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("batchdb: read %d batches: %w", len(ids), err)
	}
	out := make([]Status, 0, len(ids))
	for i, id := range ids {
		if st, ok := parseStatus(id, metas[i].Val()); ok {
			out = append(out, st)
		}
	}
	return out, nil
}
