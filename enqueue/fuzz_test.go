package enqueue

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseLine feeds bulk-input lines to the strict line decoder: it must
// never panic, and whatever it accepts must be a non-empty type with one
// valid JSON payload. Seeds: every line of testdata/enqueue/fuzz/*.jsonl.
func FuzzParseLine(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(goldenDir, "fuzz", "*.jsonl"))
	if len(files) == 0 {
		f.Fatal("no seed files in testdata/enqueue/fuzz")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f.Add(bytes.Clone(sc.Bytes()))
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		typ, payload, opts, err := parseLine(line)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if typ == "" || !json.Valid(payload) {
			t.Fatalf("accepted type %q payload %q", typ, payload)
		}
		if opts.ProcessIn != nil && opts.ProcessAt != nil {
			t.Fatal("accepted process_in with process_at")
		}
		// The bulk reader hands such a line over unchanged.
		if !bytes.ContainsAny(line, "\r\n") {
			lr := newLineReader(bytes.NewReader(append(bytes.Clone(line), '\n')), len(line))
			if got, err := lr.next(); err != nil || !bytes.Equal(got, line) {
				t.Fatalf("line reader: %q, %v", got, err)
			}
		}
	})
}
