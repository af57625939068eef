package faulttest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// keyKind is one pattern of Redis key the project writes, and the string
// literals of the non-test source that build it ("path<TAB>literal").
// Every kind is a row of docs/faults.md's key table, whose second cell
// says when it goes: a TTL, or a bound on how many there are.
type keyKind struct {
	doc      string
	literals []string
}

// keyInventory is every kind of Redis key the project writes. A key
// pattern added to the code (a literal that starts with "jobrunner:" or
// "asynq:", or holds ":{" or "}:", or a key suffix in internal/lockcore/keys.go)
// fails TestKeyInventory until it is listed here and in docs/faults.md
// with its TTL or bound: nothing of ours may live forever unnoticed.
var keyInventory = []keyKind{
	{doc: "asynq:{QUEUE}:…", literals: []string{"internal/asynqdb/keys.go\tasynq:{", "internal/asynqdb/keys.go\t}:"}},
	{doc: "asynq:queues", literals: []string{"internal/asynqdb/keys.go\tasynq:queues"}},
	{doc: "asynq:servers:{…}"}, // asynq's own; we never build it
	{doc: "jobrunner:{KEY}:lock", literals: []string{"internal/lockcore/keys.go\t:{", "internal/lockcore/keys.go\t:lock"}},
	{doc: "jobrunner:{TYPE:KEY}:inflight", literals: []string{"internal/lockcore/keys.go\t:inflight"}},
	{doc: "jobrunner:r:N", literals: []string{"internal/lockcore/bucket.go\t:{", "internal/lockcore/bucket.go\t}:r"}},
	{doc: "jobrunner:{KEY}:checkpoint", literals: []string{"internal/lockcore/keys.go\t:checkpoint"}},
	{doc: "jobrunner:{limit:DEP}:slots", literals: []string{"internal/lockcore/keys.go\t:{limit:", "internal/lockcore/keys.go\t}:slots", "internal/lockcore/keys.go\t}:waiters"}},
	{doc: "jobrunner:{limit:DEP}:starts", literals: []string{"internal/lockcore/keys.go\t}:starts", "internal/lockcore/keys.go\t}:rate"}},
	{doc: "jobrunner:deferral:{TASK}:N", literals: []string{"internal/fleet/keys.go\tjobrunner:deferral:{", "internal/fleet/keys.go\t}:"}},
	{doc: "jobrunner:schedule:{NAME}:last", literals: []string{"internal/fleet/keys.go\tjobrunner:schedule:{", "internal/fleet/keys.go\t}:last"}},
	{doc: "jobrunner:schedule:{NAME}:skipped", literals: []string{"internal/fleet/keys.go\t}:skipped"}},
	{doc: "jobrunner:schedule:{NAME}:held", literals: []string{"internal/fleet/keys.go\t}:held"}},
	{doc: "jobrunner:{breaker:NAME}", literals: []string{"resilience/shared.go\tjobrunner:{breaker:"}},
	{doc: "jobrunner:breakers", literals: []string{"resilience/shared_index.go\tjobrunner:breakers"}},
	{doc: "jobrunner:idempotency:HASH", literals: []string{"enqueue/idempotency.go\tjobrunner:idempotency:"}},
	{doc: "jobrunner:{batch:ID}:meta", literals: []string{"internal/batchdb/keys.go\tjobrunner:{batch:", "internal/batchdb/keys.go\t}:"}},
	{doc: "jobrunner:batches", literals: []string{"internal/batchdb/keys.go\tjobrunner:batches"}},
}

// keyLiteral is a string literal that may build a Redis key.
var keyLiteral = regexp.MustCompile(`jobrunner:|asynq:|:\{|\}:`)

// keySuffix is a key suffix of internal/lockcore/keys.go (":lock").
var keySuffix = regexp.MustCompile(`^:[a-z]+$`)

// TestKeyInventory: every string literal of the project's non-test Go
// source that builds a Redis key belongs to a kind of keyInventory, and
// every kind is a row of docs/faults.md's key table with a TTL or a bound.
// A new key pattern fails here until its lifetime is written down.
func TestKeyInventory(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	found := sourceKeyLiterals(t, root)
	claimed := map[string]bool{}
	for _, k := range keyInventory {
		for _, l := range k.literals {
			claimed[l] = true
			if !slices.Contains(found, l) {
				t.Errorf("key kind %s: the source no longer has %q: update keyInventory", k.doc, l)
			}
		}
	}
	for _, l := range found {
		if !claimed[l] {
			path, lit, _ := strings.Cut(l, "\t")
			t.Errorf("%s: %q looks like a new Redis key pattern: give the key a TTL or a bound, list it in keyInventory and in docs/faults.md's key table", path, lit)
		}
	}
	rows := keyTableRows(t)
	for _, k := range keyInventory {
		var life string
		for key, ttl := range rows {
			if strings.Contains(key, "`"+k.doc+"`") {
				life = ttl
			}
		}
		switch l := strings.ToLower(life); {
		case life == "":
			t.Errorf("docs/faults.md's key table has no row for `%s`", k.doc)
		case strings.Contains(l, "none") || strings.Contains(l, "forever") || strings.Contains(l, "no ttl"):
			t.Errorf("docs/faults.md: `%s` lives %q: every key needs a TTL or a bound", k.doc, life)
		}
	}
	// The chaos run's rules name kinds of the inventory.
	for _, r := range chaosKeyRules {
		if !slices.ContainsFunc(keyInventory, func(k keyKind) bool { return k.doc == r.doc }) {
			t.Errorf("chaos key rule %s is not in keyInventory", r.doc)
		}
	}
}

// sourceKeyLiterals returns "path<TAB>literal" for every string literal of
// the non-test Go files under root (the test kit and the docs excepted)
// that may build a Redis key.
func sourceKeyLiterals(t *testing.T, root string) []string {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "internal/testkit" || rel == "docs" || rel != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			l, ok := n.(*ast.BasicLit)
			if !ok || l.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(l.Value)
			if err == nil && (keyLiteral.MatchString(s) || rel == "internal/lockcore/keys.go" && keySuffix.MatchString(s)) {
				if e := rel + "\t" + s; !slices.Contains(out, e) {
					out = append(out, e)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// keyTableRows returns the rows of docs/faults.md's key table (the table
// whose header is "| key | TTL or bound |"): key cell -> lifetime cell.
func keyTableRows(t *testing.T) map[string]string {
	doc := chaosDoc(t)
	const header = "| key | TTL or bound |"
	i := strings.Index(doc, header)
	if i < 0 {
		t.Fatalf("docs/faults.md has no table headed %q", header)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(doc[i:], "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) == 2 {
			rows[cells[0]] = strings.TrimSpace(cells[1])
		}
	}
	return rows
}
