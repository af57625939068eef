package job

import (
	"math/rand/v2"
	"time"

	"github.com/jobrunner/jobrunner/internal/backoff"
)

// The job-retry schedules. A job retry is the queue rescheduling a failed
// attempt; it holds no worker slot while it waits, so it can afford to wait
// long. (An inline retry, inside one attempt, holds a slot: keep those for
// blips of a second or two, with resilience.Do.)
//
// Definition.Backoff picks a schedule per job type; the runner's
// Config.RetryBackoff sets the default for the others (cmd/worker:
// WORKER_RETRY_SCHEDULE=long|short). A callee's retry-after hint takes
// precedence over either, up to the runner's cap.

// RetryLong is the default job-retry schedule: retry n+1 (after n retries)
// waits 15s + n⁴ seconds plus a random 0 to 30s × (n+1). The first retries
// come within a minute or two; retry 10 about two hours after retry 9;
// the default 25 retries span about three weeks (20 to 21 days), so a
// weekend outage, a bad deploy rolled back on Monday or a key fixed the
// next day does not exhaust them. It is the shape asynq, Sidekiq and River
// use. err is not consulted.
func RetryLong(retried int, err error) time.Duration {
	return backoff.Polynomial(retried, rand.Float64())
}

// RetryShort is the short job-retry schedule: full jitter over a ceiling
// of 1s × 2^n capped at 60s, so retry n+1 waits a random 0 to
// min(60s, 2^n s). 25 retries take about ten minutes in all (twenty at
// most). Use it for jobs whose result is worthless after a few minutes.
// err is not consulted.
func RetryShort(retried int, err error) time.Duration {
	return backoff.Exponential(retried, time.Second, time.Minute, 2, rand.Float64())
}
