package runner

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/jobrunner/jobrunner/internal/fleet"
)

// statusRefresh is how often the /status page reloads itself.
const statusRefresh = 10 * time.Second

var (
	//go:embed status.html
	statusHTML     string
	statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
		"dur":     fleet.MsText,
		"state":   stateClass,
		"percent": func(n, of int) int { return min(100*n/max(of, 1), 100) },
		"minus":   func(a, b int) int { return a - b },
	}).Parse(statusHTML))
)

// serveStatusJSON serves /status.json.
func (r *Runner) serveStatusJSON(w http.ResponseWriter, req *http.Request) {
	doc := r.status(req.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}

// serveStatusHTML serves /status: the same as one page, readable at a
// glance, that reloads itself (no script: a meta refresh).
func (r *Runner) serveStatusHTML(w http.ResponseWriter, req *http.Request) {
	doc := r.status(req.Context())
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, statusView{statusDoc: doc, Problems: problems(doc), Refresh: int(statusRefresh.Seconds())}); err != nil {
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}

// statusView is what the page's template reads.
type statusView struct {
	statusDoc
	// Problems are the page's summary: one line per thing that holds
	// jobs back.
	Problems []string
	Refresh  int // seconds
}

// problems lists what holds jobs back, most pressing first.
func problems(doc statusDoc) []string {
	var out []string
	if !doc.Replica.Ready {
		out = append(out, "This worker is not ready: "+doc.Replica.NotReady)
	}
	for _, b := range doc.Breakers {
		switch b.State {
		case "open":
			out = append(out, fmt.Sprintf("Breaker %s (%s) is open: jobs calling it are deferred; it tries again in %s.", b.Dependency, b.Scope, fleet.MsText(b.RetryInMS)))
		case "half_open":
			out = append(out, fmt.Sprintf("Breaker %s (%s) is half-open: probing whether it recovered.", b.Dependency, b.Scope))
		}
	}
	for _, l := range doc.Limits {
		if c := l.Concurrency; c != nil && c.InUse >= c.Limit {
			out = append(out, fmt.Sprintf("Limit %s is full: %d of %d slots held; refused jobs waiting: %d.", l.Dependency, c.InUse, c.Limit, c.Waiting))
		}
		if r := l.Rate; r != nil && (r.QueueMS > 0 || r.PausedMS > 0) {
			msg := fmt.Sprintf("Rate %s of %s is reached: a job refused now waits %s.", r.Limit, l.Dependency, fleet.MsText(r.QueueMS))
			if r.PausedMS > 0 {
				msg = fmt.Sprintf("Rate limit of %s is paused (Retry-After) for %s.", l.Dependency, fleet.MsText(r.PausedMS))
			}
			out = append(out, msg)
		}
	}
	for _, s := range doc.Schedules {
		switch {
		case s.Missed > 0:
			out = append(out, fmt.Sprintf("Schedule %s missed %d ticks: no worker ran it.", s.Name, s.Missed))
		case s.Overlapping:
			out = append(out, fmt.Sprintf("Schedule %s: the last run has not finished and the next tick is due.", s.Name))
		}
	}
	if d := doc.Deferred; d.Total > 0 {
		var parts []string
		for _, g := range d.ByReason {
			parts = append(parts, fmt.Sprintf("%s %d in %s", g.Reason, g.Count, g.Queue))
		}
		more := ""
		if d.Sampled {
			more = " (or more: a sample)"
		}
		out = append(out, fmt.Sprintf("%d jobs deferred%s, the oldest for %s: %s.", d.Total, more, fleet.MsText(d.OldestAgeMS), strings.Join(parts, ", ")))
	}
	for _, e := range doc.Errors {
		out = append(out, fmt.Sprintf("Could not read %s: %s", e.Section, e.Error))
	}
	return out
}

// stateClass is the CSS class of a state: ok, warn or bad.
func stateClass(state string) string {
	switch state {
	case "open", "archived":
		return "bad"
	case "half_open", "retry", "abandoned":
		return "warn"
	}
	return "ok"
}
