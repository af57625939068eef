package runner

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRunnerReasonsAreAllKnown: every reason constant of the runner
// (reasonXxx) is in runnerReasons, so that the runner's own reasons never
// take one of the ReasonLabelsMax values meant for handlers' reasons, nor
// end up counted as "other".
func TestRunnerReasonsAreAllKnown(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "reason") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				found++
				if !runnerReasons[v] {
					t.Errorf("%s = %q is not in runnerReasons", name.Name, v)
				}
			}
			return true
		})
	}
	if found < len(runnerReasons) {
		t.Errorf("found %d reason constants, runnerReasons has %d", found, len(runnerReasons))
	}
}
