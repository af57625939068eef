package schedule_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/schedule"
)

func TestParse(t *testing.T) {
	t.Parallel()
	text := `
# nightly and frequent jobs
*/5 * * * * demo.sleep {"ms":10}
   CRON_TZ=Europe/Paris  0 3 * * *   demo.sleep   { "ms" : 20 }   catch_up=2 no_overlap
@every 30s demo.sleep {} name=ping
@hourly demo.sleep {"ms":1}
`
	entries, err := schedule.Parse(text, registry(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Fatalf("%d entries, want 4", len(entries))
	}
	want := []schedule.Schedule{
		{Spec: "*/5 * * * *", Type: "demo.sleep", Payload: []byte(`{"ms":10}`)},
		{Spec: "CRON_TZ=Europe/Paris 0 3 * * *", Type: "demo.sleep", Payload: []byte(`{"ms":20}`), CatchUp: 2, NoOverlap: true},
		{Name: "ping", Spec: "@every 30s", Type: "demo.sleep", Payload: []byte(`{}`)},
		{Spec: "@hourly", Type: "demo.sleep", Payload: []byte(`{"ms":1}`)},
	}
	for i, w := range want {
		g := entries[i].Schedule
		if (w.Name != "" && g.Name != w.Name) || g.Spec != w.Spec || g.Type != w.Type || string(g.Payload) != string(w.Payload) ||
			g.CatchUp != w.CatchUp || g.NoOverlap != w.NoOverlap {
			t.Errorf("entry %d = %+v (payload %s), want %+v (payload %s)", i, g, g.Payload, w, w.Payload)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		line int
		want string
	}{
		{"*/5 * * demo.sleep {}", 1, `cron spec "*/5 * *": want 5 fields (minute hour day-of-month month day-of-week) before the type, got 3`},
		{"0 */5 * * * * demo.sleep {}", 1, `is followed by another field, "*": want 5 fields (no seconds field)`},
		{"\n\n@hourly demo.sleep", 3, "missing the JSON payload after the type (write {} for none)"},
		{"@hourly demo.sleep {\"ms\":", 1, "payload is not JSON"},
		{"@hourly demo.sleep {}x", 1, `unexpected "x" right after the payload`},
		{"@hourly demo.sleep {} catch_up=two", 1, "catch_up=two: want 0 (skip missed ticks) to 1000"},
		{"@hourly demo.sleep {} catch_up=1 catch_up=2", 1, "option catch_up given twice"},
		{"@hourly demo.sleep {} overlap", 1, `unknown option "overlap" after the payload; want name=NAME, catch_up=N or no_overlap`},
		{"@hourly demo.sleep {} name=", 1, `unknown option "name="`},
		{"@hourly {}", 1, "want <spec> <type> <JSON payload>"},
		{"@hourly nope {}", 1, `job type "nope" is not registered`},
		{"@hourly demo.sleep {\"ms\":-5}", 1, `field "ms": must be >= 0`},
		{"@every 1s demo.sleep {}\n@every 1s demo.sleep {}", 2, "is already on line 1"},
		{"@every 1s demo.sleep {} name=a\n@hourly demo.sleep {} name=a", 2, `schedule "a" is already on line 1`},
	}
	for _, tt := range tests {
		_, err := schedule.Parse(tt.text, registry(t))
		var le *schedule.LineError
		if !errors.As(err, &le) {
			t.Errorf("Parse(%q) = %v, want a *LineError", tt.text, err)
			continue
		}
		if le.Line != tt.line || !strings.Contains(le.Err.Error(), tt.want) {
			t.Errorf("Parse(%q): line %d: %v; want line %d and %q", tt.text, le.Line, le.Err, tt.line, tt.want)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	t.Parallel()
	entries, err := schedule.Parse("\n  \n# only a comment\n", registry(t))
	if err != nil || len(entries) != 0 {
		t.Fatalf("Parse = %v, %v; want nothing", entries, err)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{`*/5 * * * * demo.sleep {"ms":10}`, `@every 1s t {} name=x catch_up=3 no_overlap`, `CRON_TZ=UTC @daily t []`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, err := schedule.ParseLine(line)
		if err != nil {
			return
		}
		// Whatever parses compiles or fails with an error, never panics.
		_, _ = schedule.Compile(s, nil)
	})
}
