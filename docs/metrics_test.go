package docs_test

import (
	"go/ast"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/runner"
	"github.com/jobrunner/jobrunner/setup"
)

// metricsPage holds the table of metrics.
const metricsPage = "docs/operations.md"

// TestPageListsEveryMetric: the operations page's table of metrics names
// exactly the metrics the code defines, each with the labels the code
// gives it, and every metric name any page mentions exists.
func TestPageListsEveryMetric(t *testing.T) {
	t.Parallel()
	code := codeMetrics(t)
	const head = "| Metric | Labels | Meaning |"
	rows := tableRows(readPage(t, metricsPage), head)
	if len(rows) == 0 {
		t.Fatalf("%s has no table headed %q", metricsPage, head)
	}
	page := map[string][]string{}
	for _, row := range rows {
		names := spansIn(row[0])
		if len(names) != 1 || len(row) < 2 {
			t.Errorf("%s: metrics row %q: want one metric name in the first column and its labels in the second", metricsPage, row)
			continue
		}
		labels := spansIn(row[1])
		slices.Sort(labels)
		page[names[0]] = labels
	}
	for _, name := range sortedKeys(code) {
		labels, ok := page[name]
		switch {
		case !ok:
			t.Errorf("metric %s (labels %q) is missing from the table of metrics in %s", name, code[name], metricsPage)
		case !slices.Equal(labels, code[name]):
			t.Errorf("%s lists metric %s with labels %q; the code gives it %q", metricsPage, name, labels, code[name])
		}
	}
	for _, name := range sortedKeys(page) {
		if _, ok := code[name]; !ok {
			t.Errorf("%s lists metric %s, which no code defines", metricsPage, name)
		}
	}

	// Metric names in prose, alerts and PromQL on any page.
	mention := regexp.MustCompile(`\bjobrunner_[a-z_]+\b`)
	for _, rel := range pageFiles(t) {
		for _, span := range codeSpans(readPage(t, rel)) {
			for _, m := range mention.FindAllString(span, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(m, suffix); ok && code[b] != nil {
						base = b
					}
				}
				if code[base] == nil {
					t.Errorf("%s mentions metric %s, which no code defines", rel, m)
				}
			}
		}
	}
}

// codeMetrics returns the metrics the module's non-test Go files define
// with prometheus.New*(Opts{Name: ...}, labels) or prometheus.NewDesc, each
// with its labels, sorted. The empty (non-nil) slice means no labels.
func codeMetrics(t *testing.T) map[string][]string {
	t.Helper()
	metrics := map[string][]string{}
	for _, f := range goFiles(t, false) {
		ast.Inspect(f.file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !isIdent(sel.X, "prometheus") || !strings.HasPrefix(sel.Sel.Name, "New") || len(call.Args) == 0 {
				return true
			}
			pos := f.fset.Position(call.Pos())
			var name string
			var labels []string
			switch {
			case sel.Sel.Name == "NewDesc":
				name = stringLit(call.Args[0])
				if len(call.Args) > 2 {
					labels = stringList(call.Args[2])
				}
			case strings.HasSuffix(typeName(call.Args[0]), "Opts"):
				lit := call.Args[0].(*ast.CompositeLit)
				for _, el := range lit.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					switch key := kv.Key.(*ast.Ident).Name; key {
					case "Name":
						name = stringLit(kv.Value)
					case "Namespace", "Subsystem":
						t.Errorf("%s: a metric name built from %s; teach TestPageListsEveryMetric to read it", pos, key)
					}
				}
				if strings.HasSuffix(sel.Sel.Name, "Vec") && len(call.Args) > 1 {
					labels = stringList(call.Args[1])
				}
			default:
				return true
			}
			if name == "" {
				t.Errorf("%s: a metric whose name is not a string literal; teach TestPageListsEveryMetric to read it", pos)
				return true
			}
			if labels == nil {
				labels = []string{}
			}
			slices.Sort(labels)
			metrics[name] = labels
			return true
		})
	}
	if len(metrics) < 20 {
		t.Fatalf("only %d metrics found in the code: the scan is broken", len(metrics))
	}

	// Cross-check: whatever a new runner's registry exports is among them.
	rdb := setup.NewRedisClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}}) // never dialed
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	if _, err := runner.New(runner.Config{Redis: rdb, Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if _, ok := metrics[fam.GetName()]; !ok {
			t.Errorf("a runner exports %s, which the scan of the code did not find; teach codeMetrics to read it", fam.GetName())
		}
	}
	if len(families) < 5 {
		t.Errorf("a new runner exports only %d metric families", len(families))
	}
	return metrics
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// typeName returns the name of a composite literal's type (CounterOpts for
// prometheus.CounterOpts{...}), or "".
func typeName(e ast.Expr) string {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return ""
	}
	switch ty := lit.Type.(type) {
	case *ast.SelectorExpr:
		return ty.Sel.Name
	case *ast.Ident:
		return ty.Name
	}
	return ""
}

// stringList returns the strings of a []string{...} literal.
func stringList(e ast.Expr) []string {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, el := range lit.Elts {
		out = append(out, stringLit(el))
	}
	return out
}
