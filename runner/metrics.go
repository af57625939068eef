package runner

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobrunner/jobrunner/job"
)

// DependencyLabelsMax caps the distinct values of the dependency label of
// the runner's metrics. Dependency names can come from payloads (a
// webhook's host), so the first DependencyLabelsMax names seen get their
// own label value and the rest are counted together as "other".
const DependencyLabelsMax = 100

// dependencyOther is the label value of the dependencies past the cap.
const dependencyOther = "other"

// ReasonLabelsMax caps the distinct reasons, besides the runner's own, that
// the reason label takes. Handlers name reasons too (job.Defer), and a
// reason built from data would add a series per value, so the first
// ReasonLabelsMax such reasons seen get their own label value and the rest
// are counted together as "other".
const ReasonLabelsMax = 20

// typeUnknown is the type label of every job type not registered with the
// runner: task types come from whoever enqueues, and each unknown one
// would otherwise add series.
const typeUnknown = "unknown"

// runnerReasons are the reasons the runner gives itself: always their own
// label value, outside ReasonLabelsMax.
var runnerReasons = map[string]bool{
	reasonBreakerOpen: true, reasonDuplicateDone: true, reasonDuplicateInFlight: true,
	reasonLockBusy: true, reasonLockLost: true, reasonStoreUnavailable: true,
	reasonDeferredTooLong: true, reasonRateLimited: true, reasonConcurrencyLimited: true,
	reasonInterrupted: true, reasonInvalidPayload: true, reasonUnknownType: true,
	reasonPanic: true, reasonShutdown: true,
}

// labelCap hands out label values, at most max distinct ones.
type labelCap struct {
	mu   sync.Mutex
	seen map[string]struct{}
	max  int
}

func newLabelCap(max int) *labelCap { return &labelCap{seen: make(map[string]struct{}), max: max} }

// label returns v while fewer than max values were seen, or v was, and
// "other" after that.
func (c *labelCap) label(v string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[v]; ok {
		return v
	}
	if len(c.seen) >= c.max {
		return dependencyOther
	}
	c.seen[v] = struct{}{}
	return v
}

// labelValues rewrites the values of a vector's labels, in place, by
// position: a nil function keeps the value.
type labelValues []func(string) string

func (lv labelValues) apply(vals []string) []string {
	for i, f := range lv {
		if f != nil && i < len(vals) {
			vals[i] = f(vals[i])
		}
	}
	return vals
}

// cappedCounterVec is a CounterVec whose label values pass through caps
// first, so that no caller can add a series past them.
type cappedCounterVec struct {
	vec  *prometheus.CounterVec
	caps labelValues
}

func (c cappedCounterVec) WithLabelValues(vals ...string) prometheus.Counter {
	return c.vec.WithLabelValues(c.caps.apply(vals)...)
}

// cappedHistogramVec is cappedCounterVec for a HistogramVec.
type cappedHistogramVec struct {
	vec  *prometheus.HistogramVec
	caps labelValues
}

func (c cappedHistogramVec) WithLabelValues(vals ...string) prometheus.Observer {
	return c.vec.WithLabelValues(c.caps.apply(vals)...)
}

// metrics are the runner's Prometheus collectors, registered on the
// runner's own registry (never the global one). The type label takes the
// registered types and "unknown", the reason label the runner's reasons,
// ReasonLabelsMax more and "other".
type metrics struct {
	jobs             cappedCounterVec
	duration         cappedHistogramVec
	inFlight         prometheus.Gauge
	deferred         cappedCounterVec
	deferralsExpired cappedCounterVec
	deferralsLate    cappedCounterVec // deferred for more than lateDeferral of MaxDeferral
	retries          cappedCounterVec
	requeued         prometheus.Counter
	drainTime        prometheus.Histogram
	transitions      *prometheus.CounterVec

	lockAcquire   prometheus.Histogram
	lockContended prometheus.Counter
	lockLost      prometheus.Counter
	dedupe        *prometheus.CounterVec

	depInFlight *prometheus.GaugeVec
	depLimited  *prometheus.CounterVec
	depCap      *prometheus.GaugeVec // the configured concurrency caps

	scheduleLastTick *prometheus.GaugeVec
	ticksSkipped     *prometheus.CounterVec // schedule, reason; schedules are configured, so few

	dependencies *labelCap // values of the dependency label
	reasons      *labelCap // values of the reason label past runnerReasons
	// types holds the registered job types, the values of the type label;
	// nil (a test's metrics without a runner) keeps every type.
	types *job.Registry
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		dependencies: newLabelCap(DependencyLabelsMax),
		reasons:      newLabelCap(ReasonLabelsMax),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jobrunner_jobs_in_flight", Help: "Job attempts running now.",
		}),
		requeued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jobrunner_jobs_requeued_on_shutdown_total", Help: "Jobs pushed back to their queue by a drain.",
		}),
		drainTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jobrunner_drain_duration_seconds", Help: "Time from the shutdown signal to the end of the drain.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 25, 30, 60},
		}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobrunner_breaker_transitions_total", Help: "Circuit breaker state changes.",
		}, []string{"dependency", "from", "to"}),
		lockAcquire: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jobrunner_lock_acquire_seconds", Help: "Time to admit a job that takes a lock, waiting included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		lockContended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jobrunner_lock_contended_total", Help: "Jobs deferred because their lock stayed busy for the whole wait.",
		}),
		lockLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jobrunner_lock_lost_total", Help: "Locks or in-flight markers lost while their job ran.",
		}),
		depInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jobrunner_dependency_in_flight", Help: "Jobs of this worker holding a limited dependency now.",
		}, []string{"dependency"}),
		depLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobrunner_dependency_limited_total", Help: "Jobs deferred by a dependency's limit, by kind (concurrency, rate, retry_after).",
		}, []string{"dependency", "kind"}),
		depCap: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jobrunner_dependency_concurrency_limit", Help: "The fleet-wide concurrency cap of each dependency that has one (Config.Limits): sum jobrunner_dependency_in_flight over the replicas and divide by it for the saturation.",
		}, []string{"dependency"}),
		dedupe: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobrunner_dedupe_total", Help: "Dedupe admissions by outcome (admitted, taken_over, in_flight_elsewhere, done).",
		}, []string{"outcome"}),
		scheduleLastTick: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jobrunner_schedule_last_tick_timestamp_seconds", Help: "Time of the last tick of each schedule known to be enqueued (by this replica or another), in Unix seconds.",
		}, []string{"schedule"}),
		ticksSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobrunner_schedule_ticks_skipped_total", Help: "Ticks of each schedule that did not run, by reason: missed (no replica ran the schedule), overlap (no_overlap, an earlier tick still waited), duplicate_done (the tick's task ended skipped: it had run already).",
		}, []string{"schedule", "reason"}),
	}
	typ := func(t string) string {
		if m.types == nil {
			return t
		}
		if _, ok := m.types.Lookup(t); ok {
			return t
		}
		return typeUnknown
	}
	reason := func(r string) string {
		if runnerReasons[r] {
			return r
		}
		return m.reasons.label(r)
	}
	m.jobs = cappedCounterVec{prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jobrunner_jobs_total", Help: "Job attempts by outcome (done, failed, skipped, deferred).",
	}, []string{"type", "queue", "outcome"}), labelValues{typ}}
	m.duration = cappedHistogramVec{prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "jobrunner_job_duration_seconds", Help: "Duration of job attempts.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"type", "queue"}), labelValues{typ}}
	m.deferred = cappedCounterVec{prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jobrunner_jobs_deferred_total", Help: "Jobs rescheduled without running, by reason.",
	}, []string{"type", "reason"}), labelValues{typ, reason}}
	m.deferralsExpired = cappedCounterVec{prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jobrunner_deferrals_expired_total", Help: "Jobs archived because they were deferred for longer than MaxDeferral, by the reason of the last deferral.",
	}, []string{"type", "reason"}), labelValues{typ, reason}}
	m.deferralsLate = cappedCounterVec{prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jobrunner_deferrals_late_total", Help: "Deferrals of jobs already deferred for more than three quarters of their MaxDeferral: they are archived (deferred_too_long) unless they run soon.",
	}, []string{"type", "reason"}), labelValues{typ, reason}}
	m.retries = cappedCounterVec{prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jobrunner_retries_total", Help: "Failed attempts that will be retried.",
	}, []string{"type"}), labelValues{typ}}
	for _, c := range []prometheus.Collector{m.lockAcquire, m.lockContended, m.lockLost, m.dedupe, m.transitions, m.jobs.vec, m.duration.vec, m.inFlight, m.deferred.vec, m.deferralsExpired.vec, m.deferralsLate.vec, m.retries.vec, m.requeued, m.drainTime, m.depInFlight, m.depLimited, m.depCap, m.scheduleLastTick, m.ticksSkipped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
