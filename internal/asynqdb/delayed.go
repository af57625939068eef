package asynqdb

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/delayed_sample.lua
	delayedSampleLua    string
	delayedSampleScript = redis.NewScript(delayedSampleLua)
)

// Sampling bounds: a sample reads at most SampleMax tasks of a set, in
// script calls of sampleChunk tasks, so that no call holds Redis for long.
const (
	// SampleMax bounds the tasks Sample reads per queue and set.
	SampleMax = 10_000
	// sampleChunk is the number of tasks one script call reads.
	sampleChunk = 100
	// ErrorPrefixMax is how much of a task's last error Sample returns.
	ErrorPrefixMax = 512
)

// Delayed is a task waiting in a queue's retry or scheduled set, as Sample
// reads it: what says why and since when it waits, never its payload.
type Delayed struct {
	ID string
	// Due is when asynq moves the task to its queue (the set's score).
	Due time.Time
	// Retry is the task's retry budget (asynq's MaxRetry) and Retried the
	// failed attempts so far; a deferral counts none.
	Retry, Retried int
	// LastFailedAt is when the task last went to the retry set: the last
	// failure or deferral. Zero for a task that never did.
	LastFailedAt time.Time
	// LastError is the first ErrorPrefixMax bytes of the error stored with
	// the task's last failure or deferral.
	LastError string
	// Headers holds the headers Sample was asked for that the task has.
	Headers map[string]string
}

// DelayedSample is the soonest-due part of one queue's retry or scheduled
// set.
type DelayedSample struct {
	Queue string
	// Set is StateRetry or StateScheduled.
	Set string
	// Size is the number of tasks in the set.
	Size int64
	// Tasks are those read of the N soonest due (fewer when the set is
	// smaller, SampleRequest.Read left some out, or a task went
	// meanwhile), soonest first.
	Tasks []Delayed
	// Looked is how many of the set's soonest-due tasks were looked at:
	// N, or the set's size when it is smaller.
	Looked int
}

// SampleRequest says what Sample reads.
type SampleRequest struct {
	// Queues are the queues to sample.
	Queues []string
	// Sets are the sets to sample of each queue: StateRetry,
	// StateScheduled.
	Sets []string
	// N is how many of the soonest-due tasks of each set are looked at, at
	// most SampleMax.
	N int
	// Headers are the names of the headers to read of each task.
	Headers []string
	// Read, when set, picks by ID the tasks whose stored message is read;
	// the others are left out of DelayedSample.Tasks. Nil reads every
	// task looked at.
	Read func(set, id string) bool
}

// Sample reads the N soonest-due tasks (at most SampleMax) of each of the
// requested sets of each queue, with the sets' sizes, and of each task
// its retry counts, last error and the requested headers, never its
// payload. It makes two round trips, however many queues and tasks: one
// pipeline reads the sets, one reads the tasks in script calls of 100
// (one queue's keys share a Cluster slot). Tasks that leave their set
// between the two are skipped.
func Sample(ctx context.Context, rdb redis.UniversalClient, req SampleRequest) ([]DelayedSample, error) {
	queues, sets, headers := req.Queues, req.Sets, req.Headers
	n := min(max(req.N, 0), SampleMax)
	out := make([]DelayedSample, 0, len(queues)*len(sets))
	sizes, ranges := make([]*redis.IntCmd, 0, cap(out)), make([]*redis.ZSliceCmd, 0, cap(out))
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, q := range queues {
			for _, set := range sets {
				if set != StateRetry && set != StateScheduled {
					return fmt.Errorf("asynqdb: sample: set %q is neither %s nor %s", set, StateRetry, StateScheduled)
				}
				key := QueuePrefix(q) + set
				out = append(out, DelayedSample{Queue: q, Set: set})
				sizes = append(sizes, p.ZCard(ctx, key))
				ranges = append(ranges, p.ZRangeWithScores(ctx, key, 0, int64(n-1)))
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		return nil, err
	}
	var calls []*sampleCall
	for i := range out {
		out[i].Size = sizes[i].Val()
		zs := ranges[i].Val()
		out[i].Looked = len(zs)
		if req.Read != nil {
			zs = slices.DeleteFunc(zs, func(z redis.Z) bool {
				id, _ := z.Member.(string)
				return !req.Read(out[i].Set, id)
			})
		}
		for start := 0; start < len(zs); start += sampleChunk {
			part := zs[start:min(start+sampleChunk, len(zs))]
			c := &sampleCall{sample: i, keys: make([]string, len(part)), ids: make([]string, len(part)), due: make([]time.Time, len(part))}
			for j, z := range part {
				id, _ := z.Member.(string)
				c.ids[j], c.keys[j], c.due[j] = id, TaskKey(out[i].Queue, id), time.Unix(int64(z.Score), 0)
			}
			calls = append(calls, c)
		}
	}
	args := append([]any{ErrorPrefixMax}, anySlice(headers)...)
	if err := runSamples(ctx, rdb, calls, args); err != nil {
		return nil, err
	}
	stride := 5 + len(headers)
	for _, c := range calls {
		v, err := c.cmd.Slice()
		if err == nil && len(v) != stride*len(c.ids) {
			err = errShape
		}
		if err != nil {
			return nil, fmt.Errorf("asynqdb: sample %s of queue %s: %w", out[c.sample].Set, out[c.sample].Queue, err)
		}
		for j, id := range c.ids {
			r := v[j*stride : (j+1)*stride]
			if found, _ := r[0].(int64); found != 1 {
				continue
			}
			d := Delayed{ID: id, Due: c.due[j], Retry: int(toInt(r[1])), Retried: int(toInt(r[2]))}
			if at := toInt(r[3]); at > 0 {
				d.LastFailedAt = time.Unix(at, 0)
			}
			d.LastError, _ = r[4].(string)
			for h, name := range headers {
				if s, _ := r[5+h].(string); s != "" {
					if d.Headers == nil {
						d.Headers = make(map[string]string, len(headers))
					}
					d.Headers[name] = s
				}
			}
			out[c.sample].Tasks = append(out[c.sample].Tasks, d)
		}
	}
	return out, nil
}

// sampleCall is one call of the sample script.
type sampleCall struct {
	sample int // index of its DelayedSample
	keys   []string
	ids    []string
	due    []time.Time
	cmd    *redis.Cmd
}

// runSamples sends the calls in one pipeline of EVALSHA, loading the
// script (on every shard of a cluster) and sending them again when Redis
// does not know it yet.
func runSamples(ctx context.Context, rdb redis.UniversalClient, calls []*sampleCall, args []any) error {
	pending := calls
	for try := 0; len(pending) > 0; try++ {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range pending {
				c.cmd = delayedSampleScript.EvalSha(ctx, p, c.keys, args...)
			}
			return nil
		})
		if err == nil || try > 0 || !redis.HasErrorPrefix(err, "NOSCRIPT") {
			return err
		}
		if err := delayedSampleScript.Load(ctx, rdb).Err(); err != nil {
			return err
		}
		var again []*sampleCall
		for _, c := range pending {
			if c.cmd.Err() != nil {
				again = append(again, c)
			}
		}
		pending = again
	}
	return nil
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// TaskRef names a task: its queue and ID.
type TaskRef struct{ Queue, ID string }

// States returns the state of each task (asynq's task hash "state" field)
// in one pipeline: "" for a task that does not exist.
func States(ctx context.Context, rdb redis.UniversalClient, tasks []TaskRef) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(tasks))
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range tasks {
			cmds[i] = p.HGet(ctx, TaskKey(t.Queue, t.ID), "state")
		}
		return nil
	})
	out := make([]string, len(tasks))
	for i, c := range cmds {
		switch err := c.Err(); {
		case err == nil:
			out[i] = c.Val()
		case err != redis.Nil:
			return nil, err
		}
	}
	return out, nil
}
