package fleet

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

// Deferred counts the jobs waiting because of a deferral: in a queue's
// retry set with a deferral's error (a deferral spends no attempt, so
// asynq keeps the task there until it is due), or, for a deferral on the
// last attempt, as a copy in its scheduled set (HeaderRequeues).
type Deferred struct {
	// Total is the deferred jobs found.
	Total int `json:"total"`
	// Sampled is true when a retry or scheduled set held more tasks than
	// were read (Config.SampleMax soonest due per set): the counts are
	// then those of the sample, a lower bound.
	Sampled bool `json:"sampled"`
	// OldestAgeMS is how long the longest-deferred job found has been
	// deferred: since the first deferral of its current attempt (the
	// runner's note), or, when no note is left, since its last deferral.
	OldestAgeMS int64 `json:"oldest_age_ms"`
	// ByReason counts them by reason and queue, the largest count first.
	ByReason []DeferredGroup `json:"by_reason"`
	// Queues says what was read of each queue.
	Queues []DeferredQueue `json:"queues"`
}

// DeferredGroup is the deferred jobs of one reason in one queue.
type DeferredGroup struct {
	Reason string `json:"reason"`
	Queue  string `json:"queue"`
	Count  int    `json:"count"`
	// OldestAgeMS is the longest any of them has been deferred.
	OldestAgeMS int64 `json:"oldest_age_ms"`
	// NextInMS is how long until the soonest of them is tried again.
	NextInMS int64 `json:"next_in_ms"`
}

// DeferredQueue is what was read of one queue.
type DeferredQueue struct {
	Queue string `json:"queue"`
	// Retry and Scheduled are the sizes of the queue's retry and
	// scheduled sets.
	Retry     int64 `json:"retry"`
	Scheduled int64 `json:"scheduled"`
	// Read is the tasks read from the two sets (the soonest due of each).
	Read int `json:"read"`
	// Deferred is the deferred jobs among them.
	Deferred int `json:"deferred"`
	// Retrying is the tasks read from the retry set that wait for a retry
	// after a failure, not a deferral.
	Retrying int `json:"retrying"`
	// Sampled is true when a set held more than was read.
	Sampled bool `json:"sampled"`
}

// reasonMax bounds the length of a deferral reason taken from an error.
const reasonMax = 100

// ReasonUnknown is the reason of a deferred copy made by a version that
// did not note the reason in HeaderDeferral.
const ReasonUnknown = "unknown"

// DeferralReason returns the reason in a deferral's error text as the
// runner stores it with the task, "deferred (REASON) for 5s: …" (the text
// of job.DeferError, possibly wrapped), and whether text is one.
func DeferralReason(text string) (string, bool) {
	const open, shut = "deferred (", ") for "
	i := strings.Index(text, open)
	if i < 0 {
		return "", false
	}
	rest := text[i+len(open):]
	j := strings.Index(rest, shut)
	if j <= 0 || j > reasonMax || strings.ContainsAny(rest[:j], "\n()") {
		return "", false
	}
	return rest[:j], true
}

// deferredJob is one deferred job found in a sample.
type deferredJob struct {
	queue, reason string
	due, last     time.Time // when it is tried again; its last deferral (zero if unknown)
	note          string    // its deferral note's key
}

// readDeferred samples every queue's retry and scheduled sets and counts
// the deferred jobs found, with their ages from the deferral notes.
func readDeferred(ctx context.Context, cfg Config, now time.Time) (Deferred, error) {
	d := Deferred{ByReason: []DeferredGroup{}, Queues: []DeferredQueue{}}
	samples, err := asynqdb.Sample(ctx, cfg.Redis, asynqdb.SampleRequest{
		Queues: cfg.Queues, Sets: []string{asynqdb.StateRetry, asynqdb.StateScheduled}, N: cfg.SampleMax,
		Headers: []string{HeaderOrigin, HeaderRequeues, HeaderDeferral},
		// Of the scheduled tasks only the runner's copies are deferred
		// jobs, and their IDs say so: read no other's message.
		Read: func(set, id string) bool { return set == asynqdb.StateRetry || isCopyID(id) },
	})
	if err != nil {
		return d, err
	}
	var jobs []deferredJob
	queues := map[string]*DeferredQueue{}
	for _, s := range samples {
		q := queues[s.Queue]
		if q == nil {
			q = &DeferredQueue{Queue: s.Queue}
			queues[s.Queue] = q
		}
		q.Read += s.Looked
		q.Sampled = q.Sampled || s.Size > int64(s.Looked)
		if s.Set == asynqdb.StateRetry {
			q.Retry = s.Size
		} else {
			q.Scheduled = s.Size
		}
		for _, t := range s.Tasks {
			j := deferredJob{queue: s.Queue, due: t.Due}
			origin := cmp.Or(t.Headers[HeaderOrigin], t.ID)
			switch {
			case s.Set == asynqdb.StateScheduled && t.Headers[HeaderRequeues] != "":
				j.reason = cmp.Or(t.Headers[HeaderDeferral], ReasonUnknown)
			case s.Set == asynqdb.StateRetry:
				reason, ok := DeferralReason(t.LastError)
				if !ok {
					q.Retrying++
					continue
				}
				j.reason, j.last = reason, t.LastFailedAt
			default:
				continue // an ordinary scheduled task
			}
			j.reason = cfg.Sanitize(j.reason)
			j.note = DeferralKey(origin, t.Retry-t.Retried)
			q.Deferred++
			jobs = append(jobs, j)
		}
	}
	for _, name := range cfg.Queues { // in the configuration's order
		if q := queues[name]; q != nil {
			d.Queues = append(d.Queues, *q)
			d.Sampled = d.Sampled || q.Sampled
			delete(queues, name) // a queue listed twice is reported once
		}
	}
	since, err := noteTimes(ctx, cfg.Redis, jobs)
	if err != nil {
		return d, err
	}
	groups := map[[2]string]*DeferredGroup{}
	for i, j := range jobs {
		start := cmp.Or(since[i], j.last)
		var age time.Duration
		if !start.IsZero() {
			age = max(now.Sub(start), 0)
		}
		k := [2]string{j.reason, j.queue}
		g := groups[k]
		if g == nil {
			g = &DeferredGroup{Reason: j.reason, Queue: j.queue, NextInMS: Ms(max(j.due.Sub(now), 0))}
			groups[k] = g
		}
		g.Count++
		g.OldestAgeMS = max(g.OldestAgeMS, Ms(age))
		g.NextInMS = min(g.NextInMS, Ms(max(j.due.Sub(now), 0)))
		d.OldestAgeMS = max(d.OldestAgeMS, Ms(age))
		d.Total++
	}
	for _, g := range groups {
		d.ByReason = append(d.ByReason, *g)
	}
	slices.SortFunc(d.ByReason, func(a, b DeferredGroup) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Reason, b.Reason), strings.Compare(a.Queue, b.Queue))
	})
	return d, nil
}

// noteTimes reads when each job's current run of deferrals began, from
// its deferral note, in one pipeline: the zero time when there is none
// (deferrals by a drain or a Redis outage are not noted; notes expire).
func noteTimes(ctx context.Context, rdb redis.UniversalClient, jobs []deferredJob) ([]time.Time, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.StringCmd, len(jobs))
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, j := range jobs {
			cmds[i] = p.HGet(ctx, j.note, "since")
		}
		return nil
	})
	out := make([]time.Time, len(jobs))
	for i, c := range cmds {
		s, err := c.Result()
		switch {
		case err == redis.Nil:
			continue
		case err != nil:
			return nil, err
		}
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 0 {
			out[i] = time.UnixMilli(ms)
		}
	}
	return out, nil
}

// isCopyID reports whether id can be the ID of a copy the runner
// re-enqueued on a deferral on the last attempt: ORIGIN~N.
func isCopyID(id string) bool {
	i := strings.LastIndexByte(id, '~')
	if i < 0 || i == len(id)-1 {
		return false
	}
	for _, c := range id[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
