package runner

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the operations endpoints: /healthz (liveness: 200 while
// the worker's loops run), /readyz (200 only when Redis answers, on a
// cluster every primary, and the worker is neither draining nor quiet;
// otherwise 503 with a one-line reason), /metrics (Prometheus), and
// /status.json and /status: why jobs may not run, as JSON and as a page
// (this replica's jobs in flight and breakers; the shared breakers,
// limits, schedules, deferred jobs and batches in progress read from
// Redis, within 1s, at most once a second however many ask).
func (r *Runner) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !r.started.Load() || r.stopped.Load() {
			http.Error(w, "not running", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if reason := r.notReady(); reason != "" {
			http.Error(w, reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.cfg.Metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status.json", r.serveStatusJSON) // status.go
	mux.HandleFunc("GET /status", r.serveStatusHTML)
	return mux
}

// notReady returns why the worker should get no traffic, or "". It never
// waits on Redis: the health loop pings it every 200ms (400ms timeout) and
// a hook sees refused writes, so a Redis that hangs turns readiness 503
// within about 600ms and back within 200ms of answering again.
func (r *Runner) notReady() string {
	switch {
	case r.draining.Load():
		return "draining"
	case r.quiet.Load():
		return "quiet" // fetches nothing: a quiet worker is not ready for work
	case !r.started.Load():
		return "starting"
	}
	return r.health.notReady()
}
