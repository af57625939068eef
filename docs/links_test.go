package docs_test

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestLinksResolve: every relative link of every page points at a file or
// directory of the repository, and every #anchor at a heading of its page,
// as GitHub names them.
func TestLinksResolve(t *testing.T) {
	t.Parallel()
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	anchors := map[string]map[string]bool{}
	anchorsOf := func(rel string) map[string]bool {
		if a, ok := anchors[rel]; ok {
			return a
		}
		a := headingAnchors(readPage(t, rel))
		anchors[rel] = a
		return a
	}
	checked := 0
	for _, rel := range pageFiles(t) {
		prose := strings.Join(parse(readPage(t, rel)).prose, "\n")
		prose = codeSpan.ReplaceAllString(prose, "")
		for _, m := range link.FindAllStringSubmatch(prose, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			file, anchor, _ := strings.Cut(target, "#")
			dest := rel
			if file != "" {
				dest = path.Clean(path.Join(path.Dir(rel), file))
				if strings.HasPrefix(dest, "..") {
					t.Errorf("%s: link %s leaves the repository", rel, target)
					continue
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest))); err != nil {
					t.Errorf("%s: link %s: no such file (%s)", rel, target, dest)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s: link %s: an anchor into a file that is not a page", rel, target)
				continue
			}
			if !anchorsOf(dest)[anchor] {
				t.Errorf("%s: link %s: %s has no heading with anchor #%s", rel, target, dest, anchor)
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d relative links checked: the scan is broken", checked)
	}
}

// headingAnchors returns the anchors GitHub gives the headings of a page.
func headingAnchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, line := range parse(text).prose {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := slug(title)
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

var mdLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// slug is GitHub's anchor for a heading: the text as rendered (links as
// their text, no code or emphasis marks), lower-cased, with every
// character but letters, digits, spaces, hyphens and underscores dropped,
// and spaces turned into hyphens.
func slug(title string) string {
	title = mdLink.ReplaceAllString(title, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestNamedPathsExist: every repository path a page names in a code span
// (internal/testkit/faulttest, testdata/k8s/deployment.yaml, .ci/run) exists, so
// that moving a file fails here instead of leaving the pages behind.
func TestNamedPathsExist(t *testing.T) {
	t.Parallel()
	top, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{}
	for _, e := range top {
		if e.IsDir() {
			dirs[e.Name()] = true
		}
	}
	repoPath := regexp.MustCompile(`^\.?[a-z0-9_-]+(/[A-Za-z0-9_.-]+)+/?$`)
	checked := 0
	for _, rel := range pageFiles(t) {
		for _, span := range codeSpans(readPage(t, rel)) {
			if !repoPath.MatchString(span) {
				continue
			}
			first, _, _ := strings.Cut(span, "/")
			if !dirs[first] {
				continue // go.opentelemetry.io/otel, k8s paths
			}
			checked++
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(span))); err != nil {
				t.Errorf("%s: `%s`: no such file or directory", rel, span)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d paths checked: the scan is broken", checked)
	}
}

// TestTablePipesEscaped: a pipe inside a code span of a table row is
// written \|, since GitHub ends the cell there otherwise.
func TestTablePipesEscaped(t *testing.T) {
	t.Parallel()
	pipe := regexp.MustCompile(`(^|[^\\])\|`)
	for _, rel := range pageFiles(t) {
		for i, line := range parse(readPage(t, rel)).prose {
			if !strings.HasPrefix(line, "|") {
				continue
			}
			for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
				if pipe.MatchString(m[1]) {
					t.Errorf("%s:%d: `%s` in a table: write its pipes as \\|", rel, i+1, m[1])
				}
			}
		}
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	for title, want := range map[string]string{
		"Scaling out: Redis Cluster and Sentinel": "scaling-out-redis-cluster-and-sentinel",
		"Metrics (`/metrics`)":                    "metrics-metrics",
		"webhook.deliver":                         "webhookdeliver",
		"The WORKER_SCHEDULES format":             "the-worker_schedules-format",
		"The enqueue CLI's variables":             "the-enqueue-clis-variables",
		"Idle enqueue → start":                    "idle-enqueue--start",
		"See [faults](faults.md)":                 "see-faults",
	} {
		if got := slug(title); got != want {
			t.Errorf("slug(%q) = %q, want %q", title, got, want)
		}
	}
}
