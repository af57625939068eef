package runner

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
)

// Defaults for the fields of Config.
const (
	ConcurrencyDefault     = 10
	ShutdownTimeoutDefault = 25 * time.Second
	// PollIntervalDefault is how often an idle worker polls its queues:
	// asynq polls empty queues instead of blocking on them, so this sets
	// the idle enqueue-to-start latency (about half of it at the median)
	// and the idle Redis cost (one script call per queue per poll).
	PollIntervalDefault = 50 * time.Millisecond
	// PollIntervalMin is the shortest PollInterval accepted: each poll is a
	// dequeue script per queue, so an idle worker polling every 10ms already
	// sends about 100 scripts a second per queue, and shorter intervals
	// only burn Redis CPU (1ns made an idle worker send ~46,000 commands a
	// second). asynq's own default is 1s.
	PollIntervalMin = 10 * time.Millisecond
	// DelayedCheckIntervalDefault is how often scheduled and retry tasks
	// are moved to their queues, so it bounds how late a deferred or
	// retried job starts.
	DelayedCheckIntervalDefault = time.Second
	// HardStopGraceDefault is how long cancelled jobs get to return in the
	// hard phase of a drain before they are requeued.
	HardStopGraceDefault = 3 * time.Second
)

// Config configures a Runner. Only Redis is required.
type Config struct {
	// Redis is the client shared by asynq's server, client and inspector
	// and by the lock store. The runner does not close it. A go-redis
	// client must have ContextTimeoutEnabled (setup.NewRedisClient sets
	// it): New refuses one without, since every deadline the runner sets
	// would otherwise be ignored by a Redis that hangs.
	Redis redis.UniversalClient

	// Concurrency is the number of jobs run at once. Defaults to 10.
	Concurrency int

	// Queues maps queue names to priorities. Defaults to {"default": 1}.
	Queues map[string]int

	// ShutdownTimeout is how long a drain lets in-flight jobs finish before
	// cancelling them. Defaults to 25s.
	ShutdownTimeout time.Duration

	// HardStopGrace is how long cancelled jobs get to return in the hard
	// phase of a drain. Defaults to 3s.
	HardStopGrace time.Duration

	// PollInterval is how often idle queues are polled, at least
	// PollIntervalMin (10ms). Defaults to 50ms.
	PollInterval time.Duration

	// DelayedCheckInterval is how often due scheduled and retry tasks are
	// moved to their queues. Defaults to 1s.
	DelayedCheckInterval time.Duration

	// Logger receives the runner's and asynq's logs. Defaults to a no-op
	// logger.
	Logger *zerolog.Logger

	// Metrics is where the runner registers its Prometheus collectors; a
	// registry holds one runner's. Defaults to a new registry holding the
	// Go and process collectors as well, served on Handler's /metrics.
	Metrics *prometheus.Registry

	// Breakers configures the circuit breakers, per dependency or for all
	// (Breakers.Default). Zero fields take the resilience defaults: open
	// after 5 consecutive failures, 60s open, 3 half-open probes.
	// Breakers.Shared names the dependencies whose breaker state all
	// replicas share through Redis ("*" for all). The runner sets Logger and
	// Redis, and wraps OnStateChange to log and count transitions.
	Breakers resilience.RegistryConfig

	// RetryBackoff is the delay before a job retry of definitions without
	// their own Backoff; retried counts the retries so far. Defaults to
	// job.RetryLong (25 retries over about three weeks); job.RetryShort is
	// the other built-in schedule. A callee's retry-after hint takes
	// precedence, up to MaxRetryAfter.
	RetryBackoff func(retried int, err error) time.Duration

	// MaxRetryAfter caps a callee's retry-after hint (job.RetryAfter,
	// a webhook's Retry-After header) for job retries. Defaults to 1h.
	MaxRetryAfter time.Duration

	// MaxDeferral bounds how long a job may keep being deferred (breaker
	// open, lock busy, duplicate in flight, unknown type, ...) without
	// running: once its first deferral of the current attempt is older, it
	// is archived with reason deferred_too_long. Definition.MaxDeferral
	// overrides it per job type. Deferrals by a drain (shutdown,
	// interrupted) do not count. Defaults to 24h.
	MaxDeferral time.Duration

	// Limits caps the named dependencies' use across every replica (a
	// concurrency cap, a rate limit): a job over a limit is deferred
	// without spending an attempt. Keys are dependency names as jobs
	// declare them. Defaults to none.
	Limits map[string]Limit

	// locks holds the locks, dedupe markers, checkpoints and limits: a
	// lockcore.RedisStore on Redis with the key prefix "jobrunner" unless
	// a test of this package sets another (export_test.go).
	locks lockcore.Store

	// MarkerTTL is the TTL of a job's in-flight dedupe marker; it is renewed
	// while the job runs, so it only bounds how long a marker outlives a
	// worker that died. Defaults to 300s.
	MarkerTTL time.Duration

	// DedupeWindow is how long a completed job's dedupe record (and its
	// result) is kept. Definition.DedupeWindow overrides it per job type.
	// Redis keeps one record per completed job for the window: see
	// docs/capacity.md for the memory it takes. Defaults to 24h.
	DedupeWindow time.Duration

	// DedupeBuckets is how many small hashes (buckets) hold the completed
	// records without a result, about 35 bytes each where a key per record
	// takes about 130: about the records kept (jobs per DedupeWindow) / 33.
	// Under it each bucket holds more, and past 128 records a bucket
	// takes about 90 bytes per record (docs/capacity.md). Defaults to
	// 4096; on Redis Cluster each slot has at least one. Negative keeps a
	// key per record. After a change, set DedupeBucketsBefore to the old
	// count for one dedupe window.
	DedupeBuckets int

	// DedupeBucketsBefore is the DedupeBuckets the current window's
	// records were written with: admission looks in both, so that no
	// duplicate of a job completed before the change runs again. 0 is none.
	DedupeBucketsBefore int

	// CheckpointTTL is how long a job's checkpoint (job.Checkpoint) is
	// kept after it was last saved or resumed: a backstop for the
	// checkpoints of jobs that end without removing them (archived before
	// they ran, a crash at the end). A job whose next attempt comes later
	// (the long retry schedule's retries after the 17th) starts from the
	// beginning. Defaults to the longer of DedupeWindow and MaxDeferral
	// (24h): past the dedupe window another job with the same dedupe key is
	// new work, and a job deferred for longer than MaxDeferral is archived.
	CheckpointTTL time.Duration

	// DuplicateDelay is the longest a duplicate of a job in flight waits
	// before it is tried again: it first comes back after 250ms, then
	// after twice as long each time up to DuplicateDelay (plus up to half
	// as much jitter), so it runs or is skipped soon after a short
	// original ends without polling Redis hot for a long one. Defaults to
	// 5s.
	DuplicateDelay time.Duration

	// TracerProvider makes the span of each attempt (job <type>; see
	// docs/operations.md, Tracing, for what a trace shows). Nil means the
	// global provider, otel.GetTracerProvider(), which is a no-op until the
	// program sets one: then, and with a no-op provider, tracing costs
	// nothing. Defaults to the global provider.
	TracerProvider trace.TracerProvider

	// Sanitize rewrites every error text the runner lets out of the
	// process, to blank the secrets it may hold: the error asynq stores
	// with a failed or deferred task (which asynqmon, the asynq CLI and
	// enqueue --wait show), the error and cause fields of the runner's log
	// lines and asynq's warnings, and the status of an attempt's span. It
	// runs only on errors, never for a job that succeeds, and must be safe
	// for concurrent use. The runner cuts its result to 2 KB, ending with
	// "…[truncated: N bytes in all]"; a panic's stack goes to the log line
	// only, never to the stored error. Payloads and results are not error
	// text and are never rewritten. Build one with job.NewSanitizer to add
	// literal secrets, key names or patterns, or wrap one in your own
	// function. Defaults to job.NewSanitizer(job.SanitizerConfig{}).Sanitize.
	Sanitize func(msg string) string
	// QueueStatsInterval is how often the depth and the oldest pending
	// task's age of each of Queues are read for the metrics
	// (jobrunner_queue_tasks, jobrunner_queue_oldest_pending_age_seconds,
	// jobrunner_queue_stats_age_seconds): one small script per queue, in
	// the background, so that a scrape never waits for Redis. Negative
	// turns the reading and those metrics off. Defaults to 5s.
	QueueStatsInterval time.Duration

	// Now tells the time; tests inject a fake clock's Now to drive the
	// deferral bound and durations without sleeping. Defaults to time.Now.
	Now func() time.Time
}

// Defaults of the dedupe settings.
const (
	MarkerTTLDefault      = 300 * time.Second
	DedupeWindowDefault   = 24 * time.Hour
	DuplicateDelayDefault = 5 * time.Second
)

// RetryAfterMaxDefault caps a callee's retry-after hint for job retries.
const RetryAfterMaxDefault = time.Hour

// MaxDeferralDefault is the default of Config.MaxDeferral.
const MaxDeferralDefault = 24 * time.Hour

// withTimeouts applies the defaults of the drain's timeouts.
func (c Config) withTimeouts() Config {
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, ShutdownTimeoutDefault)
	c.HardStopGrace = cmp.Or(c.HardStopGrace, HardStopGraceDefault)
	return c
}

func (c Config) withDefaults() Config {
	c = c.withTimeouts()
	c.Concurrency = cmp.Or(c.Concurrency, ConcurrencyDefault)
	if len(c.Queues) == 0 {
		c.Queues = map[string]int{"default": 1}
	}
	c.PollInterval = cmp.Or(c.PollInterval, PollIntervalDefault)
	c.DelayedCheckInterval = cmp.Or(c.DelayedCheckInterval, DelayedCheckIntervalDefault)
	if c.Logger == nil {
		nop := zerolog.Nop()
		c.Logger = &nop
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
		c.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RetryBackoff == nil {
		c.RetryBackoff = job.RetryLong
	}
	if c.Sanitize == nil {
		c.Sanitize = job.NewSanitizer(job.SanitizerConfig{}).Sanitize
	}
	c.MaxRetryAfter = cmp.Or(c.MaxRetryAfter, RetryAfterMaxDefault)
	c.MaxDeferral = cmp.Or(c.MaxDeferral, MaxDeferralDefault)
	c.MarkerTTL = cmp.Or(c.MarkerTTL, MarkerTTLDefault)
	c.DedupeWindow = cmp.Or(c.DedupeWindow, DedupeWindowDefault)
	c.CheckpointTTL = cmp.Or(c.CheckpointTTL, max(c.DedupeWindow, c.MaxDeferral))
	c.DuplicateDelay = cmp.Or(c.DuplicateDelay, DuplicateDelayDefault)
	c.QueueStatsInterval = cmp.Or(c.QueueStatsInterval, QueueStatsIntervalDefault)
	if c.locks == nil {
		c.locks = lockcore.NewRedisStore(c.Redis, lockcore.RedisConfig{Buckets: c.DedupeBuckets, BucketsBefore: c.DedupeBucketsBefore})
	}
	return c
}

func (c Config) validate() error {
	if c.Redis == nil {
		return errors.New("runner: Config.Redis is nil")
	}
	if err := checkContextTimeouts(c.Redis); err != nil {
		return err
	}
	if c.Concurrency < 0 {
		return fmt.Errorf("runner: Config.Concurrency %d is negative", c.Concurrency)
	}
	for dep, l := range c.Limits {
		switch {
		case dep == "":
			return errors.New("runner: Config.Limits: empty dependency name")
		case l.Concurrency < 0 || l.SlotTTL < 0:
			return fmt.Errorf("runner: Config.Limits[%q]: negative concurrency or slot TTL", dep)
		case l.Concurrency == 0 && l.Rate.N == 0:
			return fmt.Errorf("runner: Config.Limits[%q]: neither a concurrency cap nor a rate", dep)
		case l.Rate.N != 0 && (l.Rate.N < 0 || l.Rate.Per < time.Millisecond || l.Rate.Burst < 0):
			return fmt.Errorf("runner: Config.Limits[%q]: rate %d per %v burst %d; want N >= 1, Per >= 1ms, Burst >= 0", dep, l.Rate.N, l.Rate.Per, l.Rate.Burst)
		}
	}
	for q, p := range c.Queues {
		if q == "" || p <= 0 {
			return fmt.Errorf("runner: Config.Queues: queue %q has priority %d; want a name and a priority >= 1", q, p)
		}
	}
	if c.PollInterval != 0 && c.PollInterval < PollIntervalMin {
		return fmt.Errorf("runner: Config.PollInterval %v is below the floor of %v (each poll is a Redis script per queue)", c.PollInterval, PollIntervalMin)
	}
	if c.CheckpointTTL != 0 && c.CheckpointTTL < time.Millisecond {
		return fmt.Errorf("runner: Config.CheckpointTTL %v is below 1ms", c.CheckpointTTL)
	}
	for name, d := range map[string]time.Duration{
		"ShutdownTimeout": c.ShutdownTimeout, "HardStopGrace": c.HardStopGrace,
		"PollInterval": c.PollInterval, "DelayedCheckInterval": c.DelayedCheckInterval,
		"MarkerTTL": c.MarkerTTL, "DedupeWindow": c.DedupeWindow, "DuplicateDelay": c.DuplicateDelay,
		"MaxRetryAfter": c.MaxRetryAfter, "MaxDeferral": c.MaxDeferral, "CheckpointTTL": c.CheckpointTTL,
	} {
		if d < 0 {
			return fmt.Errorf("runner: Config.%s %v is negative", name, d)
		}
	}
	return nil
}
