package docs_test

import (
	"go/ast"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/job/builtin"
)

// readmeMaxLines keeps the README a front page: details go to docs/.
const readmeMaxLines = 250

// TestReadmeIsShort: the README stays a front page; a topic that needs
// more words gets a page under docs/ and a line in the README's map.
func TestReadmeIsShort(t *testing.T) {
	t.Parallel()
	n := strings.Count(readPage(t, "README.md"), "\n")
	if n > readmeMaxLines {
		t.Errorf("README.md has %d lines, more than %d: move the details to a page under docs/", n, readmeMaxLines)
	}
}

// TestReadmeMapListsEveryPage: the README's map of the docs links every
// page of docs/.
func TestReadmeMapListsEveryPage(t *testing.T) {
	t.Parallel()
	readme := readPage(t, "README.md")
	for _, rel := range pageFiles(t) {
		if strings.HasPrefix(rel, "docs/") && !strings.Contains(readme, "]("+rel+")") {
			t.Errorf("README.md's map of the docs does not link %s", rel)
		}
	}
}

// TestReadmeHasCITestCommand: the test command the README gives is the one
// CI runs (.ci/run), verbatim.
func TestReadmeHasCITestCommand(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	var commands []string
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "go test") {
			commands = append(commands, strings.TrimSpace(line))
		}
	}
	if len(commands) == 0 {
		t.Fatal(".ci/run runs no go test command")
	}
	var shown []string
	for _, b := range parse(readPage(t, "README.md")).blocks {
		if b.lang == "sh" {
			shown = append(shown, b.body...)
		}
	}
	for _, c := range commands {
		if !slices.Contains(shown, c) {
			t.Errorf(".ci/run runs %q, which no sh block of README.md shows as a line of its own", c)
		}
	}
}

// TestReadmeListsTheMiddlewareInOrder: the README's numbered list of
// layers is the runner's chain, in its order (the entries of the runner's
// layers(), which the chain is built from).
func TestReadmeListsTheMiddlewareInOrder(t *testing.T) {
	t.Parallel()
	var chain []string
	for _, f := range goFiles(t, false) {
		if f.dir != "runner" {
			continue
		}
		ast.Inspect(f.file, func(n ast.Node) bool {
			// The entries of the runner's layers(): {"name", r.layer}.
			lit, ok := n.(*ast.CompositeLit)
			if !ok || !isIdent(lit.Type, "layer") && lit.Type != nil {
				return true
			}
			if len(lit.Elts) != 2 {
				return true
			}
			name, ok := lit.Elts[0].(*ast.BasicLit)
			if _, isSel := lit.Elts[1].(*ast.SelectorExpr); !ok || !isSel || name.Kind != token.STRING {
				return true
			}
			chain = append(chain, strings.Trim(name.Value, `"`))
			return false
		})
	}
	if len(chain) < 8 {
		t.Fatalf("the runner's []Middleware literal has %v: the scan is broken", chain)
	}
	item := regexp.MustCompile(`^\d+\. \*\*([a-z]+)\*\*`)
	var listed []string
	for _, line := range parse(readPage(t, "README.md")).prose {
		if m := item.FindStringSubmatch(line); m != nil {
			listed = append(listed, m[1])
		}
	}
	if !slices.Equal(listed, chain) {
		t.Errorf("README.md lists the layers %q; the runner's chain is %q", listed, chain)
	}
}

// TestPackagesLinkTheirPage: every package's doc.go, and every command's
// package comment, names the docs page that explains it, and that page
// exists.
func TestPackagesLinkTheirPage(t *testing.T) {
	t.Parallel()
	page := regexp.MustCompile(`docs/([a-z0-9-]+)\.md`)
	n := 0
	for _, f := range goFiles(t, false) {
		isDoc := filepath.Base(f.rel) == "doc.go"
		isCmd := strings.HasPrefix(f.dir, "cmd/") && f.file.Doc != nil
		if (!isDoc && !isCmd) || f.dir == "docs" {
			continue
		}
		n++
		if f.file.Doc == nil {
			t.Errorf("%s has no package comment", f.rel)
			continue
		}
		ms := page.FindAllStringSubmatch(f.file.Doc.Text(), -1)
		if len(ms) == 0 {
			t.Errorf("%s: the package comment names no docs/<page>.md", f.rel)
		}
		for _, m := range ms {
			if _, err := os.Stat(filepath.Join(root, m[0])); err != nil {
				t.Errorf("%s: the package comment names %s, which does not exist", f.rel, m[0])
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d package comments checked", n)
	}
}

// TestBuiltinPageListsDemoSleepFailures: the built-in jobs page lists the
// "fail" values demo.sleep's validation accepts.
func TestBuiltinPageListsDemoSleepFailures(t *testing.T) {
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
	const rel = "docs/builtin-jobs.md"
	line := regexp.MustCompile(`"fail": ((?:"[a-z]*"(?:\s*\|\s*)?)+)`).FindStringSubmatch(readPage(t, rel))
	if line == nil {
		t.Fatalf(`%s does not list demo.sleep's "fail" values`, rel)
	}
	var listed []string
	for _, m := range quoted.FindAllStringSubmatch(line[1], -1) {
		listed = append(listed, m[1])
	}
	slices.Sort(accepted)
	slices.Sort(listed)
	if len(accepted) < 4 || !slices.Equal(accepted, listed) {
		t.Fatalf("%s lists fail values %q; demo.sleep accepts %q", rel, listed, accepted)
	}
}
