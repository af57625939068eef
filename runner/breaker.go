package runner

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobrunner/jobrunner/internal/backoff"
	"github.com/jobrunner/jobrunner/resilience"
)

// reasonBreakerOpen is the deferral reason of a job whose dependency's
// breaker is open.
const reasonBreakerOpen = "breaker_open"

// breaker is the circuit-breaker layer. It checks the job's declared
// dependencies before it runs: an open one defers the job instead of
// calling it. (job.Call inside a handler records against the runner's
// registry too, through the attempt in the context.)
//
// A job with exactly one dependency runs as one breaker call: its outcome
// is recorded against that dependency (neutral outcomes such as permanent
// errors, deferrals, a lost lock or a drain's cancellation excepted), and
// while the breaker is half-open the job is the probe. A job with several
// dependencies is admitted only if none is open; its handler attributes
// outcomes with job.Call.
func (r *Runner) breaker(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, a *Attempt) error {
		deps := a.prepared.Dependencies
		r.traceBreakers(ctx, a, deps)
		var err error
		switch len(deps) {
		case 0:
			return next(ctx, a)
		case 1:
			err = r.breakers.Call(ctx, deps[0], func(ctx context.Context) error {
				return neutralIfCancelled(ctx, next(ctx, a))
			})
			if n, ok := errors.AsType[*neutralError](err); ok {
				err = n.err
			}
		default:
			for _, d := range deps {
				if err = r.breakers.Check(ctx, d); err != nil {
					break
				}
			}
			if err == nil {
				err = next(ctx, a)
			}
		}
		if oe, ok := errors.AsType[*resilience.OpenError](err); ok {
			return deferOpen(oe)
		}
		return err
	}
}

// deferOpen turns an open breaker into a deferral after its retry-after,
// spread with jitter so that a backlog does not stampede the half-open
// probe when the period ends.
func deferOpen(oe *resilience.OpenError) *deferral {
	d := newDeferral(reasonBreakerOpen, backoff.Add(oe.RetryAfter, max(oe.RetryAfter/2, time.Second), rand.Float64()), oe)
	d.Attrs = map[string]string{"dependency": oe.Dependency}
	return d
}

// neutralError marks an error that says nothing about the dependency's
// health: the job was cut short by its own worker, not failed by the
// callee.
type neutralError struct{ err error }

func (e *neutralError) Error() string { return e.err.Error() }
func (e *neutralError) Unwrap() error { return e.err }
func (e *neutralError) Neutral() bool { return true }

// neutralIfCancelled marks err neutral when the job's context was cancelled
// (a drain or a lost lock), as opposed to timing out.
func neutralIfCancelled(ctx context.Context, err error) error {
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return &neutralError{err}
	}
	return err
}

// breakerCollector exports jobrunner_breaker_state at scrape time. The
// dependencies past DependencyLabelsMax are one series, "other", with the
// worst state among them.
type breakerCollector struct {
	reg    *resilience.Registry
	labels *labelCap
	desc   *prometheus.Desc
}

func newBreakerCollector(reg *resilience.Registry, labels *labelCap) *breakerCollector {
	return &breakerCollector{reg: reg, labels: labels, desc: prometheus.NewDesc("jobrunner_breaker_state",
		"Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open.", []string{"dependency"}, nil)}
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	other, others := resilience.State(0), false
	for _, s := range c.reg.Snapshot() {
		dep := c.labels.label(s.Dependency)
		if dep == dependencyOther {
			other, others = max(other, s.State), true
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(s.State), dep)
	}
	if others {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(other), dependencyOther)
	}
}
