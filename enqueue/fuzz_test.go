package enqueue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/jobrunner/jobrunner/internal/testkit/jsontest"
	"github.com/jobrunner/jobrunner/job"
)

// FuzzParseLine feeds bulk-input lines to the strict line decoder: it must
// never panic, and whatever it accepts must be a non-empty type with one
// valid JSON payload, without a key twice in one object, which the
// validator then accepts unless it is null. Seeds: every line of
// testdata/enqueue/fuzz/*.jsonl.
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
		if jsontest.HasDuplicateKey(line) {
			t.Fatalf("accepted a duplicate key: %s", line)
		}
		// The payload goes to the same strict decoder as the worker's: it
		// refuses null and duplicate keys there too.
		_, err = validator{reg: job.NewRegistry(), allowUnknown: true, maxPayload: len(payload)}.newTask(context.Background(), "x", payload, optionSet{})
		if isNull := string(bytes.TrimSpace(payload)) == "null"; isNull != (err != nil) {
			t.Fatalf("payload %q: validator says %v", payload, err)
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
