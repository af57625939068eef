package docs_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the pages' Go snippets from the regions of docs/*_test.go")

// TestSnippetsMatchCode: every ```go block of a page is marked
// <!-- snippet NAME --> and is, byte for byte, the region NAME of this
// package's test files, which the compiler checks; every region is shown
// somewhere. go test ./docs -update rewrites the blocks from the regions.
func TestSnippetsMatchCode(t *testing.T) {
	regions := snippetRegions(t)
	used := map[string]bool{}
	for _, rel := range pageFiles(t) {
		text := readPage(t, rel)
		lines := strings.Split(text, "\n")
		changed := false
		for _, b := range parse(text).blocks {
			if b.lang != "go" {
				continue
			}
			if b.marker == "" {
				t.Errorf("%s:%d: a ```go block without a <!-- snippet NAME --> line before it: make it a region of docs/example_test.go", rel, b.start)
				continue
			}
			want, ok := regions[b.marker]
			if !ok {
				t.Errorf("%s:%d: snippet %q: no such region in docs/*_test.go", rel, b.start, b.marker)
				continue
			}
			used[b.marker] = true
			got := strings.Join(b.body, "\n")
			if got == want {
				continue
			}
			if *update {
				// Blocks are replaced from the last line up, so earlier
				// indices stay valid: collect and apply in reverse below.
				changed = true
				continue
			}
			t.Errorf("%s:%d: snippet %q differs from its region in docs/*_test.go (go test ./docs -update rewrites it):\n--- page\n%s\n--- code\n%s", rel, b.start, b.marker, got, want)
		}
		if changed {
			blocks := parse(text).blocks
			for i := len(blocks) - 1; i >= 0; i-- {
				b := blocks[i]
				if b.lang != "go" || regions[b.marker] == "" {
					continue
				}
				body := strings.Split(regions[b.marker], "\n")
				lines = append(lines[:b.start], append(body, lines[b.start+len(b.body):]...)...)
			}
			if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(rel)), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote the snippets of %s", rel)
		}
	}
	for _, name := range sortedKeys(regions) {
		if !used[name] {
			t.Errorf("region %q of docs/*_test.go is shown on no page", name)
		}
	}
}

// snippetRegions returns the regions of this package's test files: the
// lines between "// snippet NAME" and "// end snippet", without their
// common indentation.
func snippetRegions(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	begin := regexp.MustCompile(`^\s*// snippet (\S+)$`)
	regions := map[string]string{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(raw), "\n")
		for i := 0; i < len(lines); i++ {
			m := begin.FindStringSubmatch(lines[i])
			if m == nil {
				continue
			}
			name := m[1]
			var body []string
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "// end snippet"; i++ {
				body = append(body, lines[i])
			}
			if i == len(lines) {
				t.Fatalf("%s: snippet %q has no // end snippet", file, name)
			}
			if _, dup := regions[name]; dup {
				t.Fatalf("%s: snippet %q defined twice", file, name)
			}
			regions[name] = dedent(body)
		}
	}
	if len(regions) < 5 {
		t.Fatalf("only %d snippet regions found", len(regions))
	}
	return regions
}

// dedent removes the tabs all non-blank lines start with, and blank lines
// at the end.
func dedent(lines []string) string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if common < 0 || n < common {
			common = n
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) >= common && common > 0 {
			l = l[common:]
		}
		out[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(out, "\n")
}
