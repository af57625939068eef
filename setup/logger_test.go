package setup_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/setup"
)

func TestNewLoggerConsoleNoColourOffTerminal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := setup.NewLogger(&buf, "info", "console")
	if err != nil {
		t.Fatal(err)
	}
	log.Warn().Str("event", "x").Msg("to a buffer")

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	plog, err := setup.NewLogger(w, "info", "console")
	if err != nil {
		t.Fatal(err)
	}
	plog.Error().Str("event", "y").Msg("to a pipe")
	w.Close()
	piped, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()

	for name, out := range map[string]string{"buffer": buf.String(), "pipe": string(piped)} {
		if !strings.Contains(out, "event=") {
			t.Errorf("%s: not a console line: %q", name, out)
		}
		if strings.Contains(out, "\x1b[") {
			t.Errorf("%s: colour codes in %q", name, out)
		}
	}
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := setup.NewLogger(&buf, "WARN", "")
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("hidden")
	log.Warn().Str("event", "shown").Msg("x")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["event"] != "shown" || m["level"] != "warn" || m["time"] == nil {
		t.Fatalf("logged %q (%v)", buf.String(), err)
	}
	for _, bad := range [][2]string{{"loud", "json"}, {"info", "yaml"}} {
		if _, err := setup.NewLogger(io.Discard, bad[0], bad[1]); err == nil {
			t.Errorf("NewLogger(%q, %q) accepted", bad[0], bad[1])
		}
	}
}
