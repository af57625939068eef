// Package resilience keeps an outage of one downstream dependency cheap: a
// circuit breaker per dependency stops calling it while it fails, and a retry
// policy with capped, fully jittered exponential backoff repeats calls that
// failed for a transient reason.
//
// The package is a library on its own. It knows nothing about asynq, metrics
// or the rest of jobrunner; the runner binds it to jobs (see Wiring below).
// A worker author configures breakers through runner.BreakersConfig and
// calls dependencies through job.Call; this package is for code that calls
// a dependency outside a job, and documents the types behind that
// configuration.
//
// # Breakers
//
// A Breaker is closed, open or half-open. Closed, it admits every call and
// opens after FailureThreshold consecutive failures (5), or, with
// TripFailureRate, when the failure rate over a rolling window reaches
// FailureRate with at least MinCalls outcomes. Open, it refuses calls with an
// *OpenError that says when to come back (RetryAfter), for OpenTimeout (60s)
// spread by ±10% so that replicas do not probe in lockstep. Then it turns
// half-open and admits up to HalfOpenMaxCalls probes (3): SuccessThreshold
// successes (3) close it, one failure opens it again.
//
// A call goes through Call, which admits it, runs it and records its
// outcome; in the closed state that costs no allocation and no lock:
//
//	err := b.Call(ctx, callPaymentAPI)
//	var open *resilience.OpenError
//	if errors.As(err, &open) {
//		return err // refused: reschedule after open.RetryAfter.
//	}
//
// Every state change starts a new generation, and outcomes of calls admitted
// in an older generation are ignored. A neutral probe gives its half-open slot
// back, and probes that never report are given up after HalfOpenMaxWait, so a
// breaker cannot stick in half-open. OnStateChange callbacks run outside the
// breaker's lock, one at a time and in order.
//
// # Sharing a breaker across replicas
//
// A Breaker is per process: each replica trips and probes on its own. A
// SharedBreaker (opt-in) keeps one dependency's state in one Redis hash,
// updated by atomic scripts on Redis server time, never holding a lock
// across the caller's call; it grants exactly one cluster-wide half-open
// probe at a time (the slot expires if its holder dies), and reads go
// through a short local cache so a closed breaker usually costs no round
// trip. When Redis is unreachable, OnRedisError decides: FailOpenLocal
// (the default) falls back to a local Breaker, FailClosed refuses. Its key
// is jobrunner:{breaker:<name>}. A Registry keeps the dependencies named in
// RegistryConfig.Shared in shared breakers (the runner's
// WORKER_SHARED_BREAKERS), and logs and reports the transitions each
// replica sees in Redis as it does a local breaker's. Shared breakers in
// use note their names in a bounded index (SharedIndexKey, at most
// SharedIndexMax names, a day's TTL), so that SharedNames and ReadShared
// list and read every shared breaker's state from Redis alone, without
// scanning it, for status pages.
//
// # Results and error contracts
//
// Classify decides what an error says about the dependency: Success and
// Failure count; Neutral results are ignored: context.Canceled, a
// PermanentError, *OpenError and a NeutralError. Do and IsRetryable stop on
// the same errors, and honour a RetryAfterError's hint. These are
// interfaces of one method, implemented by any error in the chain, so other
// packages opt in without importing this one: package job makes them for
// handlers (job.Permanent, job.RetryAfter, job.Defer).
//
// # Registry and Call
//
// A Registry gets or creates the breaker of a dependency by name, with a
// default config and per-dependency overrides; it logs transitions with
// zerolog, reports them to an OnStateChange hook, drops breakers whose
// dependency was not called for IdleTimeout (after the end of its open
// period, if it opened), and holds at most MaxBreakers (10,000), evicting
// the least recently used, those that hold nothing first, when a new one
// would pass the cap. Registry.Call(ctx, dep, fn)
// guards fn with dep's breaker and records its result; nested Calls for the
// same dependency are recorded once.
//
// # Retries
//
// Do(ctx, policy, fn) calls fn up to MaxAttempts times (3), waiting
// Backoff.Delay between attempts: uniformly random in
// [0, min(Max, Base × Multiplier^n)) with Base 1s, Multiplier 2 and Max 60s,
// clamped after jittering. A RetryAfterError's hint replaces the computed
// delay. Do never retries context errors, permanent errors, *OpenError or
// neutral errors, runs nothing if the context is already done, stops
// waiting when it is cancelled, and returns an *ExhaustedError wrapping the
// last error when it gives up. Do is for blips inside one call; a job's
// retries are rescheduled by its queue (job.RetryLong).
//
//	err := resilience.Do(ctx, resilience.Policy{}, func(ctx context.Context) error {
//		return reg.Call(ctx, "payment-api", charge)
//	})
//
// # Wiring
//
// The runner owns one Registry. Before a job runs it calls Check on the
// breakers of the job's dependencies and, given an *OpenError, reschedules
// the job after RetryAfter instead of failing it. A job with exactly one
// dependency runs its handler through Registry.Call(ctx, dep, handler), so
// the job's result is recorded against that dependency; job.Call inside the
// handler goes through the same registry.
//
// See docs/breakers.md and docs/retries.md for how the worker uses them.
package resilience
