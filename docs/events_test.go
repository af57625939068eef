package docs_test

import (
	"go/ast"
	"go/token"
	"regexp"
	"testing"
)

// eventsPage holds the table of log events.
const eventsPage = "docs/operations.md"

// TestPageListsEveryLogEvent: the operations page's table of log events
// names exactly the events the code writes: every Str("event", ...) of a
// non-test Go file of the module.
func TestPageListsEveryLogEvent(t *testing.T) {
	t.Parallel()
	code := codeEvents(t)
	page := pageEvents(t)
	for _, ev := range sortedKeys(code) {
		if !page[ev] {
			t.Errorf("event %s (%s) is missing from the table of log events in %s", ev, code[ev], eventsPage)
		}
	}
	for _, ev := range sortedKeys(page) {
		if code[ev] == "" {
			t.Errorf("%s lists event %s, which no code writes", eventsPage, ev)
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
	files := goFiles(t, false)
	outcomes := outcomeValues(t, files)
	events := map[string]string{}
	for _, f := range files {
		ast.Inspect(f.file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 || callName(call) != "Str" || stringLit(call.Args[0]) != "event" {
				return true
			}
			if s := stringLit(call.Args[1]); s != "" {
				events[s] = f.rel
				return true
			}
			// "job." + string(outcome): one event per outcome.
			if b, ok := call.Args[1].(*ast.BinaryExpr); ok && b.Op == token.ADD && stringLit(b.X) == "job." {
				for _, o := range outcomes {
					events["job."+o] = f.rel
				}
				return true
			}
			t.Errorf("%s: an event name that is neither a literal nor \"job.\"+outcome; teach TestPageListsEveryLogEvent to read it", f.fset.Position(call.Pos()))
			return true
		})
	}
	return events
}

// outcomeValues returns the values of the runner's constants of type
// outcome, which name the job.<outcome> events.
func outcomeValues(t *testing.T, files []goFile) []string {
	t.Helper()
	var out []string
	for _, f := range files {
		if f.dir != "runner" {
			continue
		}
		for _, decl := range f.file.Decls {
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
	}
	if len(out) != 4 {
		t.Fatalf("outcomes %v; want done, failed, skipped, deferred (the runner's constants of type outcome)", out)
	}
	return out
}

// pageEvents returns the events named in the first column of the page's
// table of log events.
func pageEvents(t *testing.T) map[string]bool {
	t.Helper()
	const head = "| Event | Level | When |"
	rows := tableRows(readPage(t, eventsPage), head)
	if len(rows) == 0 {
		t.Fatalf("%s has no table headed %q", eventsPage, head)
	}
	name := regexp.MustCompile(`^[a-z_]+\.[a-z_]+$`)
	events := map[string]bool{}
	for _, row := range rows {
		for _, s := range spansIn(row[0]) {
			if !name.MatchString(s) {
				t.Errorf("%s: %q in the table of log events is not an event name", eventsPage, s)
				continue
			}
			events[s] = true
		}
	}
	return events
}
