package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/job/builtin"
)

// The README's lists that code can be derived from are checked against the
// code, so that they cannot fall behind it.

// root is the module's root, from this package's directory.
const root = "../.."

// TestReadmeListsEveryLogEvent: the README's table of log events names
// exactly the events the code writes: every Str("event", ...) of a non-test
// source file of the module.
func TestReadmeListsEveryLogEvent(t *testing.T) {
	t.Parallel()
	code := codeEvents(t)
	readme := readmeEvents(t)
	for _, ev := range slices.Sorted(maps.Keys(code)) {
		if !readme[ev] {
			t.Errorf("event %s (%s) is missing from the README's table of log events", ev, code[ev])
		}
	}
	for _, ev := range slices.Sorted(maps.Keys(readme)) {
		if code[ev] == "" {
			t.Errorf("the README lists event %s, which no code writes", ev)
		}
	}
	if len(code) < 30 {
		t.Fatalf("only %d events found in the code: the scan is broken", len(code))
	}
}

// codeEvents returns the events written by the module's non-test Go
// files, each with the file that writes it.
func codeEvents(t *testing.T) map[string]string {
	t.Helper()
	outcomes := outcomeValues(t)
	events := map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (n == "testdata" || strings.HasPrefix(n, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 || !isStrCall(call) || stringLit(call.Args[0]) != "event" {
				return true
			}
			if s := stringLit(call.Args[1]); s != "" {
				events[s] = rel
				return true
			}
			// "job." + string(outcome): one event per outcome.
			if b, ok := call.Args[1].(*ast.BinaryExpr); ok && b.Op == token.ADD && stringLit(b.X) == "job." {
				for _, o := range outcomes {
					events["job."+o] = rel
				}
				return true
			}
			t.Errorf("%s: an event name that is neither a literal nor \"job.\"+outcome; teach TestReadmeListsEveryLogEvent to read it", fset.Position(call.Pos()))
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// isStrCall reports whether call is a method call named Str (zerolog's
// Event.Str, Context.Str).
func isStrCall(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Str"
}

// stringLit returns the value of a string literal, or "".
func stringLit(e ast.Expr) string {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return ""
	}
	return s
}

// outcomeValues returns the values of the runner's outcome constants
// (runner/outcome.go), which name the job.<outcome> events.
func outcomeValues(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, "runner", "outcome.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "outcome" {
				for _, v := range vs.Values {
					out = append(out, stringLit(v))
				}
			}
		}
	}
	if len(out) != 4 {
		t.Fatalf("outcomes %v; want done, failed, skipped, deferred", out)
	}
	return out
}

// readmeEvents returns the events named in the first column of the
// README's table of log events.
func readmeEvents(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const head = "| Event | Level | When |"
	_, table, ok := strings.Cut(string(raw), head)
	if !ok {
		t.Fatalf("README.md has no table headed %q", head)
	}
	names := regexp.MustCompile("`([a-z_]+\\.[a-z_]+)`")
	events := map[string]bool{}
	for _, line := range strings.Split(table, "\n")[2:] {
		if !strings.HasPrefix(line, "| ") {
			break
		}
		first := strings.Split(line, "|")[1]
		for _, m := range names.FindAllStringSubmatch(first, -1) {
			events[m[1]] = true
		}
	}
	return events
}

// TestReadmeListsDemoSleepFailures: the README's list of demo.sleep's
// "fail" values is the list its validation accepts (panic was missing).
func TestReadmeListsDemoSleepFailures(t *testing.T) {
	t.Parallel()
	err := builtin.SleepPayload{Fail: "no such failure"}.Validate()
	if err == nil {
		t.Fatal("an unknown failure was accepted")
	}
	msg, _, _ := strings.Cut(err.Error(), ", got")
	quoted := regexp.MustCompile(`"([a-z]*)"`)
	var accepted []string
	for _, m := range quoted.FindAllStringSubmatch(msg, -1) {
		accepted = append(accepted, m[1])
	}
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`"fail": ((?:"[a-z]*"(?:\s*\|\s*)?)+)`).FindStringSubmatch(string(raw))
	if line == nil {
		t.Fatal(`README.md does not list demo.sleep's "fail" values`)
	}
	var listed []string
	for _, m := range quoted.FindAllStringSubmatch(line[1], -1) {
		listed = append(listed, m[1])
	}
	slices.Sort(accepted)
	slices.Sort(listed)
	if len(accepted) < 4 || !slices.Equal(accepted, listed) {
		t.Fatalf("README lists fail values %q; demo.sleep accepts %q", listed, accepted)
	}
}
