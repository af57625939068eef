package runner

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

// QueueStatsIntervalDefault is how often the queue metrics are read.
const QueueStatsIntervalDefault = 5 * time.Second

// queueStates are the state label values of jobrunner_queue_tasks.
var queueStates = asynqdb.QueueStates

// queueReading is one reading of a queue.
type queueReading struct {
	at     time.Time                 // when it was read; zero before the first reading
	counts [len(queueStates)]float64 // tasks by state
	oldest time.Duration             // age of the oldest pending task at the reading
}

// queueStats is the background loop behind the queue metrics: every
// interval it reads each configured queue's task counts and the age of its
// oldest pending task (one script per queue, bounded by a timeout), and
// keeps the last reading. A scrape exports the readings and their age, and
// never waits for Redis: a Redis that hangs makes the readings old, which
// jobrunner_queue_stats_age_seconds shows. The labels are bounded by the
// configured queues.
type queueStats struct {
	rdb      redis.UniversalClient
	queues   []string
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	last  map[string]queueReading
	since time.Time // start of the loop; the age of a queue never read

	tasks, oldest, age *prometheus.Desc

	startOnce, stopOnce sync.Once
	stop, done          chan struct{}
	cancel              context.CancelFunc
}

func newQueueStats(rdb redis.UniversalClient, queues map[string]int, interval time.Duration, now func() time.Time) *queueStats {
	return &queueStats{
		rdb: rdb, queues: slices.Sorted(maps.Keys(queues)), interval: interval, now: now,
		last: make(map[string]queueReading), stop: make(chan struct{}), done: make(chan struct{}),
		tasks: prometheus.NewDesc("jobrunner_queue_tasks",
			"Tasks of each configured queue by state (pending, active, scheduled, retry, archived, completed), as last read.",
			[]string{"queue", "state"}, nil),
		oldest: prometheus.NewDesc("jobrunner_queue_oldest_pending_age_seconds",
			"Age of each configured queue's oldest pending task at the last reading (0 when none is pending).",
			[]string{"queue"}, nil),
		age: prometheus.NewDesc("jobrunner_queue_stats_age_seconds",
			"Time since each configured queue was last read (since the worker started, if never): large while Redis does not answer.",
			[]string{"queue"}, nil),
	}
}

// start runs the loop in its own goroutine until shutdown; a negative
// interval runs nothing.
func (q *queueStats) start(ctx context.Context) {
	q.startOnce.Do(func() {
		q.mu.Lock()
		q.since = q.now()
		q.mu.Unlock()
		if q.interval < 0 {
			close(q.done)
			return
		}
		ctx, q.cancel = context.WithCancel(context.WithoutCancel(ctx))
		go q.loop(ctx)
	})
}

func (q *queueStats) loop(ctx context.Context) {
	defer close(q.done)
	t := time.NewTicker(q.interval)
	defer t.Stop()
	for {
		for _, name := range q.queues {
			q.read(ctx, name)
		}
		select {
		case <-q.stop:
			return
		case <-t.C:
		}
	}
}

// read reads one queue, keeping the previous reading when Redis does not
// answer within the interval (at least 500ms, at most 2s).
func (q *queueStats) read(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(ctx, min(max(q.interval, 500*time.Millisecond), 2*time.Second))
	defer cancel()
	c, err := asynqdb.ReadQueue(ctx, q.rdb, name)
	at := q.now()
	if err != nil {
		return
	}
	r := queueReading{at: at}
	for i, n := range c.Tasks {
		r.counts[i] = float64(n)
	}
	if !c.OldestPending.IsZero() {
		r.oldest = max(at.Sub(c.OldestPending), 0)
	}
	q.mu.Lock()
	q.last[name] = r
	q.mu.Unlock()
}

// queueStatsStopGrace bounds how long shutdown waits for a read in
// progress: a go-redis client without ContextTimeoutEnabled only gives up
// on a Redis that hangs after its read timeout (3s). The loop ends by
// itself then; it holds nothing a drain must release.
const queueStatsStopGrace = time.Second

// shutdown stops the loop and waits for it, at most queueStatsStopGrace.
// Called before start, it keeps the loop from starting.
func (q *queueStats) shutdown() {
	q.startOnce.Do(func() { close(q.done) })
	q.stopOnce.Do(func() {
		close(q.stop)
		if q.cancel != nil {
			q.cancel()
		}
	})
	t := time.NewTimer(queueStatsStopGrace)
	defer t.Stop()
	select {
	case <-q.done:
	case <-t.C:
	}
}

func (q *queueStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- q.tasks
	ch <- q.oldest
	ch <- q.age
}

func (q *queueStats) Collect(ch chan<- prometheus.Metric) {
	q.mu.Lock()
	last := maps.Clone(q.last)
	since := q.since
	q.mu.Unlock()
	if since.IsZero() {
		return // not started
	}
	now := q.now()
	for _, name := range q.queues {
		r, ok := last[name]
		from := since
		if ok {
			from = r.at
			for i, s := range queueStates {
				ch <- prometheus.MustNewConstMetric(q.tasks, prometheus.GaugeValue, r.counts[i], name, s)
			}
			ch <- prometheus.MustNewConstMetric(q.oldest, prometheus.GaugeValue, r.oldest.Seconds(), name)
		}
		ch <- prometheus.MustNewConstMetric(q.age, prometheus.GaugeValue, max(now.Sub(from), 0).Seconds(), name)
	}
}
