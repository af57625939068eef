package docs_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The monitoring files: a Grafana dashboard and Prometheus alert rules.
const (
	dashboardFile = "testdata/monitoring/jobrunner-dashboard.json"
	rulesFile     = "testdata/monitoring/jobrunner-rules.yaml"
)

// ruleFile is Prometheus's rule file format.
type ruleFile struct {
	Groups []struct {
		Name     string `json:"name"`
		Interval string `json:"interval,omitempty"`
		Rules    []struct {
			Alert       string            `json:"alert,omitempty"`
			Record      string            `json:"record,omitempty"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"rules"`
	} `json:"groups"`
}

// dashboard is what the test reads of a Grafana dashboard.
type dashboard struct {
	Title  string  `json:"title"`
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // a collapsed row's
	GridPos *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
}

// TestMonitoringRulesParse: the rules file parses, strictly, as a
// Prometheus rule file; every rule is an alert with a severity and a
// summary, and the alerts the issue asks for are there.
func TestMonitoringRulesParse(t *testing.T) {
	t.Parallel()
	rules := readRules(t)
	durations := regexp.MustCompile(`^[0-9]+(ms|s|m|h|d|w)$`)
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("%s: a group without a name or rules", rulesFile)
		}
		for _, r := range g.Rules {
			switch {
			case r.Alert == "" || r.Record != "":
				t.Errorf("%s: rule %q%q: want alerting rules only", rulesFile, r.Alert, r.Record)
			case strings.TrimSpace(r.Expr) == "":
				t.Errorf("%s: alert %s has no expr", rulesFile, r.Alert)
			case r.For != "" && !durations.MatchString(r.For):
				t.Errorf("%s: alert %s: for %q is not a Prometheus duration", rulesFile, r.Alert, r.For)
			case r.Labels["severity"] == "" || r.Annotations["summary"] == "":
				t.Errorf("%s: alert %s needs labels.severity and annotations.summary", rulesFile, r.Alert)
			}
			if alerts[r.Alert] {
				t.Errorf("%s: alert %s twice", rulesFile, r.Alert)
			}
			alerts[r.Alert] = true
		}
	}
	for _, want := range []string{"JobrunnerBreakerOpen", "JobrunnerDeferralsNearMaxDeferral", "JobrunnerJobsArchived",
		"JobrunnerScheduleMissedTicks", "JobrunnerNotReady"} {
		if !alerts[want] {
			t.Errorf("%s lacks the alert %s", rulesFile, want)
		}
	}
}

// TestMonitoringUsesExportedMetrics: every metric the dashboard and the
// rules name is one the worker exports (the code's metrics, as
// TestPageListsEveryMetric derives them), every label they match, group
// by, show in a legend or an annotation is one of the expression's
// metrics has; and the dashboard shows what the issue asks for.
func TestMonitoringUsesExportedMetrics(t *testing.T) {
	t.Parallel()
	code := codeMetrics(t)
	var exprs []monitoredExpr
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			e := monitoredExpr{where: rulesFile + " alert " + r.Alert, expr: r.Expr}
			for _, a := range r.Annotations {
				e.shown = append(e.shown, a)
			}
			exprs = append(exprs, e)
		}
	}
	d := readDashboard(t)
	ids := map[int]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] || p.Title == "" || p.GridPos == nil {
				t.Errorf("%s: panel %d %q: want a unique id, a title and a gridPos", dashboardFile, p.ID, p.Title)
			}
			ids[p.ID] = true
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, monitoredExpr{where: dashboardFile + " panel " + p.Title, expr: tg.Expr, shown: []string{tg.LegendFormat}})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if d.Title == "" || d.UID == "" || len(exprs) < 20 {
		t.Fatalf("%s: title %q, uid %q, %d queries: the files are not read right", dashboardFile, d.Title, d.UID, len(exprs))
	}

	metricName := regexp.MustCompile(`\b(jobrunner|asynq|go|process)_[a-z0-9_]+\b`)
	matchers := regexp.MustCompile(`\b(jobrunner_[a-z0-9_]+)\{([^}]*)\}`)
	matcherLabel := regexp.MustCompile(`([a-z_]+)\s*(=~|!~|!=|=)`)
	grouping := regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	shownLabel := regexp.MustCompile(`\{\{\s*\$?(?:labels\.)?\.?([a-z_]+)\s*\}\}|\$labels\.([a-z_]+)`)
	used := map[string]bool{}
	for _, e := range exprs {
		if strings.Count(e.expr, "(") != strings.Count(e.expr, ")") || strings.Count(e.expr, "{") != strings.Count(e.expr, "}") {
			t.Errorf("%s: unbalanced brackets in %q", e.where, e.expr)
		}
		labels := map[string]bool{"instance": true, "job": true} // the scrape's target labels
		for _, m := range metricName.FindAllString(e.expr, -1) {
			base := m
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(m, suffix); ok && code[b] != nil {
					base = b
					labels["le"] = labels["le"] || suffix == "_bucket"
				}
			}
			if code[base] == nil {
				t.Errorf("%s uses metric %s, which the worker does not export", e.where, m)
				continue
			}
			used[base] = true
			for _, l := range code[base] {
				labels[l] = true
			}
		}
		for _, m := range matchers.FindAllStringSubmatch(e.expr, -1) {
			for _, l := range matcherLabel.FindAllStringSubmatch(m[2], -1) {
				if !slices.Contains(code[m[1]], l[1]) {
					t.Errorf("%s matches label %s of %s, which has labels %q", e.where, l[1], m[1], code[m[1]])
				}
			}
		}
		for _, g := range grouping.FindAllStringSubmatch(e.expr, -1) {
			for _, l := range strings.Split(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !labels[l] {
					t.Errorf("%s groups by %s, which none of its metrics has", e.where, l)
				}
			}
		}
		for _, s := range e.shown {
			for _, m := range shownLabel.FindAllStringSubmatch(s, -1) {
				if l := m[1] + m[2]; !labels[l] {
					t.Errorf("%s shows label %s, which none of its metrics has", e.where, l)
				}
			}
		}
	}
	for _, want := range []string{
		"jobrunner_jobs_total", "jobrunner_jobs_deferred_total", "jobrunner_breaker_state",
		"jobrunner_dependency_in_flight", "jobrunner_dependency_concurrency_limit",
		"jobrunner_drain_duration_seconds", "jobrunner_schedule_last_tick_timestamp_seconds",
		"jobrunner_schedule_ticks_skipped_total", "jobrunner_deferrals_late_total", "jobrunner_redis_up",
	} {
		if !used[want] {
			t.Errorf("neither %s nor %s uses %s", dashboardFile, rulesFile, want)
		}
	}
}

// monitoredExpr is one PromQL expression of the monitoring files, with
// the texts that show its labels (a legend, annotations).
type monitoredExpr struct {
	where, expr string
	shown       []string
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(b, &rf); err != nil {
		t.Fatalf("%s does not parse as a Prometheus rule file: %v", rulesFile, err)
	}
	if len(rf.Groups) == 0 {
		t.Fatalf("%s has no rule groups", rulesFile)
	}
	return rf
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}
