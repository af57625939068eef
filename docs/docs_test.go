package docs_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// The pages' lists that code can be derived from are checked against the
// code, in both directions, so that neither can fall behind the other. The
// helpers here read the pages (README.md, BENCHMARKS.md, docs/*.md) and the
// module's Go files.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// root is the module's root, from this package's directory.
const root = ".."

// pageFiles returns the Markdown pages, relative to root: README.md,
// BENCHMARKS.md and docs/*.md.
func pageFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "BENCHMARKS.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		rel, _ := filepath.Rel(root, d)
		files = append(files, filepath.ToSlash(rel))
	}
	if len(files) < 10 {
		t.Fatalf("only %d pages: %v", len(files), files)
	}
	return files
}

// readPage returns the text of a page, by its path relative to root.
func readPage(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// block is a fenced code block of a page.
type block struct {
	lang   string
	marker string // the "<!-- snippet NAME -->" line before the fence, NAME only
	start  int    // index of the first line of the body
	body   []string
}

// parsed is a page split into its prose lines (fenced blocks blanked, so
// that line numbers stay) and its fenced blocks.
type parsed struct {
	prose  []string
	blocks []block
}

var snippetMarker = regexp.MustCompile(`^<!-- snippet (\S+) -->$`)

func parse(text string) parsed {
	lines := strings.Split(text, "\n")
	var p parsed
	p.prose = make([]string, len(lines))
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if !strings.HasPrefix(line, "```") {
			p.prose[i] = line
			continue
		}
		b := block{lang: strings.TrimPrefix(line, "```"), start: i + 1}
		if i > 0 {
			if m := snippetMarker.FindStringSubmatch(lines[i-1]); m != nil {
				b.marker = m[1]
			}
		}
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			b.body = append(b.body, lines[i])
		}
		p.blocks = append(p.blocks, b)
	}
	return p
}

// codeSpan matches an inline code span (one or more lines).
var codeSpan = regexp.MustCompile("`([^`]+)`")

// codeSpans returns the inline code spans of the prose of text.
func codeSpans(text string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(strings.Join(parse(text).prose, "\n"), -1) {
		out = append(out, unescapePipes(m[1]))
	}
	return out
}

// tableRows returns the rows of every table of text whose header line
// starts with head, each split into its cells, trimmed.
func tableRows(text, head string) [][]string {
	var rows [][]string
	lines := parse(text).prose
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], head) {
			continue
		}
		for i += 2; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			cells := splitRow(lines[i])
			rows = append(rows, cells)
		}
	}
	return rows
}

// splitRow splits a table row at the pipes outside code spans.
func splitRow(line string) []string {
	var cells []string
	var cur strings.Builder
	inCode := false
	for _, r := range strings.TrimSpace(line) {
		switch {
		case r == '`':
			inCode = !inCode
			cur.WriteRune(r)
		case r == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	// The leading and trailing pipes leave an empty first and last cell.
	if len(cells) > 0 && cells[0] == "" {
		cells = cells[1:]
	}
	return cells
}

// unescapePipes turns \| back into |: in a table, GitHub ends a cell at
// a pipe even inside a code span, so a pipe there is written \|.
func unescapePipes(s string) string { return strings.ReplaceAll(s, `\|`, "|") }

// spansIn returns the code spans of one cell.
func spansIn(cell string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
		out = append(out, unescapePipes(m[1]))
	}
	return out
}

// goFile is a parsed Go file of the module.
type goFile struct {
	rel  string // slash path relative to root
	dir  string // its directory, relative to root
	file *ast.File
	fset *token.FileSet
}

// goFiles parses the module's Go files, test files or not, outside
// testdata and hidden directories.
func goFiles(t *testing.T, tests bool) []goFile {
	t.Helper()
	fset := token.NewFileSet()
	var out []goFile
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
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") != tests {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution|parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		out = append(out, goFile{rel: rel, dir: filepath.ToSlash(filepath.Dir(rel)), file: f, fset: fset})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("only %d Go files found: the walk is broken", len(out))
	}
	return out
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

// stringConsts returns the package-level string constants of each
// directory's files: dir -> name -> value.
func stringConsts(files []goFile) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, f := range files {
		for _, decl := range f.file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if s := stringLit(vs.Values[i]); s != "" {
							if out[f.dir] == nil {
								out[f.dir] = map[string]string{}
							}
							out[f.dir][name.Name] = s
						}
					}
				}
			}
		}
	}
	return out
}

// callName returns the name of the function a call calls: f for f(...)
// and x.f(...).
func callName(call *ast.CallExpr) string {
	switch fn := call.Fun.(type) {
	case *ast.Ident:
		return fn.Name
	case *ast.SelectorExpr:
		return fn.Sel.Name
	case *ast.IndexExpr: // a generic function with explicit type arguments
		if id, ok := fn.X.(*ast.Ident); ok {
			return id.Name
		}
	}
	return ""
}

// sortedKeys returns the keys of a set, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
