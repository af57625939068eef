package runner

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/backoff"
	"github.com/jobrunner/jobrunner/internal/fleet"
)

// reasonDeferredTooLong is the failure reason of a job archived because it
// kept being deferred for longer than its MaxDeferral.
const reasonDeferredTooLong = "deferred_too_long"

var (
	//go:embed lua/deferral.lua
	deferralLua    string
	deferralScript = redis.NewScript(deferralLua)
)

// deferralTimeout bounds the round trip that notes a deferral. When it
// fails the deferral stands and is not bounded this time: the bound must
// never be the reason a job is lost.
const deferralTimeout = time.Second

// bound is the deferral-bound layer, just inside observe. A deferral does
// not count an attempt, so without a bound a breaker that never closes, a
// lock never freed or a marker never cleared would defer a job forever.
// Each deferral is noted in Redis (one script, deferrals only: a job that
// runs pays nothing); once the first deferral of the job's current attempt
// is older than MaxDeferral, the job is archived with reason
// deferred_too_long and the last deferral's reason.
//
// Deferrals by a drain (shutdown, interrupted) are the worker's own doing
// and are neither noted nor bounded; nor are those of an unreachable store
// (the note could not be written either).
func (r *Runner) bound(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, a *Attempt) error {
		err := next(ctx, a)
		if err == nil {
			return nil
		}
		d, ok := asDeferral(err)
		if !ok {
			return err
		}
		switch d.Reason {
		case reasonShutdown, reasonInterrupted, reasonStoreUnavailable:
			return err
		}
		return r.noteDeferral(ctx, a, d)
	}
}

// noteDeferral notes d and returns it, or the archiving error once the
// job's deferrals have lasted too long.
func (r *Runner) noteDeferral(ctx context.Context, a *Attempt, d *deferral) error {
	limit := r.cfg.MaxDeferral
	if a.spec != nil {
		limit = cmp.Or(a.spec.Options().MaxDeferral, limit)
	}
	now := r.cfg.Now()
	if d.grow != nil {
		d.After = d.grow(1) // until the count is known
	}
	ttl := limit + 2*max(d.After, time.Hour)
	key := fleet.DeferralKey(a.OriginID(), a.MaxRetry-a.Retried)
	nctx, cancel := r.detached(ctx, deferralTimeout)
	defer cancel()
	v, err := deferralScript.Run(nctx, r.cfg.Redis, []string{key}, now.UnixMilli(), ttl.Milliseconds()).Int64Slice()
	if err != nil || len(v) != 2 {
		r.log.Debug().Str("event", "deferral.note_failed").Str("task_id", a.TaskID).Err(err).
			Msg("could not note a deferral; it is not bounded this time")
		return d
	}
	if d.grow != nil {
		d.After = d.grow(int(v[1]))
	}
	age := now.Sub(time.UnixMilli(v[0]))
	if age <= limit {
		if age > limit/4*3 {
			r.metrics.deferralsLate.WithLabelValues(a.Type, d.Reason).Inc()
		}
		return d
	}
	r.metrics.deferralsExpired.WithLabelValues(a.Type, d.Reason).Inc()
	return &reasonError{Reason: reasonDeferredTooLong, Err: &deferredTooLongError{age: age, limit: limit, last: d}}
}

// deferredTooLongError archives a job whose deferrals outlasted its
// MaxDeferral. It does not unwrap to the last deferral, which would make
// it a deferral again.
type deferredTooLongError struct {
	age, limit time.Duration
	last       *deferral
}

func (e *deferredTooLongError) Error() string {
	msg := fmt.Sprintf("runner: deferred for %v without running, more than MaxDeferral %v; last deferral: %s",
		e.age.Round(time.Second), e.limit, e.last.Reason)
	if e.last.Err != nil {
		msg += ": " + e.last.Err.Error()
	}
	return msg
}

// Permanent archives the job: retrying cannot help what deferring has not.
func (e *deferredTooLongError) Permanent() bool { return true }

// lastReason returns the reason of the last deferral of an archived job.
func lastReason(err error) (string, bool) {
	var e *deferredTooLongError
	if errors.As(err, &e) {
		return e.last.Reason, true
	}
	return "", false
}

// Unknown job types are deferred with a delay that grows with each
// deferral: 5s, 10s, 20s ... up to 5 minutes, plus up to half as much
// jitter.
const (
	unknownTypeDelayMin = 5 * time.Second
	unknownTypeDelayMax = 5 * time.Minute
)

func unknownTypeDelay(deferrals int) time.Duration {
	d := backoff.Exponential(deferrals-1, unknownTypeDelayMin, unknownTypeDelayMax, 2, 1)
	return backoff.Add(d, d/2, rand.Float64())
}
