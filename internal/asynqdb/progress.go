package asynqdb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ProgressField is the field of asynq's task hash in which the runner keeps
// how far the task's job is, as "<done>/<total>" (job.Progress), for a
// producer waiting on it (enqueue --wait). Like SkippedField it lives and
// dies with asynq's hash, so it needs no TTL of its own.
const ProgressField = "jobrunner_progress"

// SetProgress writes done and total to the task's ProgressField, if the
// task exists.
func SetProgress(ctx context.Context, rdb redis.Scripter, queue, id string, done, total int) error {
	v := strconv.Itoa(done) + "/" + strconv.Itoa(total)
	return setFieldScript.Run(ctx, rdb, []string{TaskKey(queue, id)}, ProgressField, v).Err()
}

// Progress returns the progress the task's job last reported, and ok false
// when it reported none.
func Progress(ctx context.Context, rdb redis.Cmdable, queue, id string) (done, total int, ok bool, err error) {
	v, err := rdb.HGet(ctx, TaskKey(queue, id), ProgressField).Result()
	if errors.Is(err, redis.Nil) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	d, t, found := strings.Cut(v, "/")
	done, err1 := strconv.Atoi(d)
	total, err2 := strconv.Atoi(t)
	if !found || err1 != nil || err2 != nil {
		return 0, 0, false, fmt.Errorf("asynqdb: task %s: %s is %q, want <done>/<total>", id, ProgressField, v)
	}
	return done, total, true, nil
}
