package runner

import (
	"context"
	"errors"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
)

// observe is the outermost layer: it recovers panics, sanitizes the
// attempt's error (Config.Sanitize), writes the attempt's log lines and
// records its metrics.
func (r *Runner) observe(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, a *Attempt) (err error) {
		r.metrics.inFlight.Inc()
		if e := r.log.Debug(); e.Enabled() {
			r.attemptEvent(e, a).Str("event", "job.started").Msg("job started")
		}
		defer func() {
			if p := recover(); p != nil {
				err = &panicError{Value: p, Stack: debug.Stack()}
			}
			if err != nil && !isSkip(err) {
				// From here on, every way out (the log line, the span,
				// asynq's stored error) has the sanitized text.
				err = r.sanitize(err)
			}
			r.metrics.inFlight.Dec()
			r.record(a, err)
			r.traceOutcome(a, err)
		}()
		return next(ctx, a)
	}
}

// record logs the one line that ends an attempt and counts it.
func (r *Runner) record(a *Attempt, err error) {
	elapsed := r.cfg.Now().Sub(a.Start)
	outcome, reason := outcomeOf(err)
	r.metrics.jobs.WithLabelValues(a.Type, a.Queue, string(outcome)).Inc()
	r.metrics.duration.WithLabelValues(a.Type, a.Queue).Observe(elapsed.Seconds())

	var e *zerolog.Event
	switch outcome {
	case outcomeFailed:
		final := permanent(err) || a.Last()
		if final {
			e = r.log.Error()
		} else {
			e = r.log.Warn()
			r.metrics.retries.WithLabelValues(a.Type).Inc()
		}
		e = e.Err(err).Bool("final", final)
		var pe *panicError
		if errors.As(err, &pe) {
			e = e.Bytes("stack", pe.Stack)
		}
		if last, ok := lastReason(err); ok {
			e = e.Str("last_reason", last)
		}
	case outcomeDeferred:
		d, _ := asDeferral(err)
		r.metrics.deferred.WithLabelValues(a.Type, reason).Inc()
		e = r.log.Info().Int64("retry_in_ms", ms(d.After))
		for k, v := range d.Attrs {
			e = e.Str(k, v)
		}
		if d.Err != nil && e.Enabled() {
			e = e.Str("cause", r.sanitizeText(d.Err.Error()))
		}
	default:
		e = r.log.Info()
		if a.unrecorded {
			// The completed record is missing: a redelivery runs again.
			e = r.log.Warn().Bool("recorded", false)
		}
	}
	if !e.Enabled() {
		return
	}
	e = r.attemptEvent(e, a).Str("event", "job."+string(outcome)).
		Int64("duration_ms", ms(elapsed))
	if reason != "" {
		e = e.Str("reason", reason)
	}
	e.Msg("job " + string(outcome))
}

// ms is a duration as logged: whole milliseconds, rounded, in a field whose
// name ends in _ms.
func ms(d time.Duration) int64 { return d.Round(time.Millisecond).Milliseconds() }

func (r *Runner) attemptEvent(e *zerolog.Event, a *Attempt) *zerolog.Event {
	e = e.Str("task_id", a.TaskID).Str("type", a.Type).Str("queue", a.Queue).Int("attempt", a.Number())
	if id := batchOfTask(a); id != "" {
		e = e.Str("batch", id)
	}
	return e
}
