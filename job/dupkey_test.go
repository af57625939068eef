package job

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/internal/testkit/jsontest"
)

func TestDuplicateKey(t *testing.T) {
	t.Parallel()
	many := func(n int, dup bool) string {
		var parts []string
		for i := range n {
			parts = append(parts, `"k`+strings.Repeat("x", i)+`":1`)
		}
		if dup {
			parts = append(parts, `"kxx":2`)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	tests := []struct{ in, path string }{
		{`{}`, ""},
		{`{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{` { "a" : 1 , "a" : 2 } `, "a"},
		{`{"a":{"b":{"c":1,"c":1}}}`, "a.b.c"},
		{`{"items":[{"id":1},{"id":2},{"id":3,"x":"}","id":4}]}`, "items[2].id"},
		{`[[{"a":1}],[{"a":1,"a":1}]]`, "[1][0].a"},
		{`{"a\"b":1,"a\u0022b":2}`, `a"b`},
		{`{"\\":1,"\\\\":2}`, ""},
		{`{"s":"{\"a\":1,\"a\":2}"}`, ""}, // keys inside a string are text
		{`{"a":[1,true,null,-2.5e3,"x"],"b":false}`, ""},
		{many(40, false), ""},
		{many(40, true), "kxx"},
		{"1", ""},
		{`"a"`, ""},
	}
	for _, tt := range tests {
		if !json.Valid([]byte(tt.in)) {
			t.Fatalf("test input %s is not valid JSON", tt.in)
		}
		path, dup := duplicateKey([]byte(tt.in))
		if path != tt.path || dup != (tt.path != "") {
			t.Errorf("duplicateKey(%s) = %q, %v; want %q", tt.in, path, dup, tt.path)
		}
	}
}

// FuzzDuplicateKey checks the scanner against jsontest's reference, built
// on encoding/json's tokenizer, and that it never panics, even on invalid
// JSON.
//
//	go test -run '^$' -fuzz FuzzDuplicateKey -fuzztime 30s ./job/
func FuzzDuplicateKey(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `[{"a":1},{"a":1,"a":1}]`,
		`{"a\u0041":1,"aA":2}`, `{"a":"\"","b":[]}`, `{"a`, `{"a":`, `[`, `}`, `{"a":1,}`, `"\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path, dup := duplicateKey(data) // must not panic on anything
		if !json.Valid(data) {
			return
		}
		if want := jsontest.HasDuplicateKey(data); dup != want {
			t.Fatalf("duplicateKey(%q) = %q, %v; reference says %v", data, path, dup, want)
		}
	})
}

// BenchmarkDecodeDuplicateScan measures the duplicate-key scan alone, the
// part of Decode's cost that the check adds.
//
//	go test -run '^$' -bench Decode -benchmem ./job/
func BenchmarkDecodeDuplicateScan(b *testing.B) {
	for name, data := range map[string]string{
		"small":        `{"id":7,"email":"a@example.com"}`,
		"nested":       `{"id":7,"email":"a@example.com","tags":["a","b","c"],"ship":{"zip":"12345"}}`,
		"webhook-1KiB": `{"url":"https://hooks.example.com/in/abc","method":"POST","headers":{"Authorization":"Bearer x","Content-Type":"application/json","X-Tenant":"t1","X-Request-Id":"r1"},"body":"` + strings.Repeat("x", 1024) + `","idempotency_key":"evt_123"}`,
	} {
		b.Run(name, func(b *testing.B) {
			d := []byte(data)
			b.ReportAllocs()
			b.SetBytes(int64(len(d)))
			for b.Loop() {
				if _, dup := duplicateKey(d); dup {
					b.Fatal("duplicate")
				}
			}
		})
	}
}
