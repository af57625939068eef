package runner

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jobrunner/jobrunner/internal/rediserr"
)

// Handler returns the operations endpoints: /healthz (liveness: 200 while
// the worker's loops run), /readyz (200 only when Redis answers, on a
// cluster every primary, and the worker is neither draining nor quiet;
// otherwise 503 with a one-line reason) and /metrics (Prometheus).
func (r *Runner) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !r.started.Load() || r.stopped.Load() {
			http.Error(w, "not running", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		if reason := r.notReady(req.Context()); reason != "" {
			http.Error(w, reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.cfg.Metrics, promhttp.HandlerOpts{}))
	return mux
}

// notReady returns why the worker should get no traffic, or "".
func (r *Runner) notReady(ctx context.Context) string {
	switch {
	case r.draining.Load():
		return "draining"
	case r.quiet.Load():
		return "quiet" // fetches nothing: a quiet worker is not ready for work
	case !r.started.Load():
		return "starting"
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := pingRedis(ctx, r.cfg.Redis); err != nil {
		return rediserr.Describe(err) // "redis unreachable: …", or "redis authentication failed …"
	}
	return ""
}
