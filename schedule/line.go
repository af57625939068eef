package schedule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jobrunner/jobrunner/job"
)

// LineError is a bad line of a schedule list (Parse).
type LineError struct {
	// Line is the 1-based line number.
	Line int
	// Text is the line, without surrounding white space.
	Text string
	// Err says what is wrong.
	Err error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d %q: %v", e.Line, e.Text, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// Parse parses a schedule list, the format of cmd/worker's
// WORKER_SCHEDULES: one schedule a line,
//
//	<spec> <type> <JSON payload> [name=NAME] [catch_up=N] [no_overlap]
//
// where spec is five cron fields or a descriptor, optionally after
// CRON_TZ=Zone (see Schedule.Spec), e.g.
//
//	*/5 * * * * demo.sleep {"ms":10}
//	CRON_TZ=Europe/Paris 0 3 * * * report.nightly {} catch_up=1 no_overlap
//	@every 30s webhook.deliver {"url":"https://example.com/ping"} name=ping
//
// Blank lines and lines starting with # are ignored. Each schedule is
// compiled with reg (see Compile); two lines may not have the same name.
// The first bad line is returned as a *LineError.
func Parse(text string, reg *job.Registry) ([]*Entry, error) {
	var out []*Entry
	seen := map[string]int{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		lerr := func(err error) error { return &LineError{Line: i + 1, Text: line, Err: err} }
		s, err := ParseLine(line)
		if err != nil {
			return nil, lerr(err)
		}
		e, err := Compile(s, reg)
		if err != nil {
			return nil, lerr(err)
		}
		if n, dup := seen[e.Name]; dup {
			return nil, lerr(fmt.Errorf("schedule %q is already on line %d (same spec, type and payload, or the same name=)", e.Name, n))
		}
		seen[e.Name] = i + 1
		out = append(out, e)
	}
	return out, nil
}

// ParseLine parses one line of a schedule list (see Parse) without
// compiling it: the spec is split off but not checked.
func ParseLine(line string) (Schedule, error) {
	var s Schedule
	rest := strings.TrimSpace(line)
	var spec []string
	word := func() string {
		var w string
		w, rest = cutWord(rest)
		return w
	}
	w := word()
	if k, _, ok := strings.Cut(w, "="); ok && (k == "CRON_TZ" || k == "TZ") {
		spec = append(spec, w)
		w = word()
	}
	switch {
	case w == "@every":
		spec = append(spec, w, word())
	case strings.HasPrefix(w, "@"):
		spec = append(spec, w)
	default:
		zoneWords := len(spec)
		spec = append(spec, w)
		for range 4 {
			next := word()
			if next == "" || strings.ContainsAny(next[:1], `{["`) {
				// Fewer than five fields: the last word taken is the type.
				fields := spec[zoneWords : len(spec)-1]
				return Schedule{}, fmt.Errorf("cron spec %q: want 5 fields (minute hour day-of-month month day-of-week) before the type, got %d",
					strings.Join(fields, " "), len(fields))
			}
			spec = append(spec, next)
		}
	}
	s.Spec = strings.TrimSpace(strings.Join(spec, " "))
	s.Type = word()
	switch {
	case s.Type == "" || strings.ContainsAny(s.Type[:1], `{["`):
		return Schedule{}, errors.New(`want <spec> <type> <JSON payload>, e.g. */5 * * * * demo.sleep {"ms":10}`)
	case strings.Trim(s.Type, "0123456789*/,-?") == "":
		return Schedule{}, fmt.Errorf("cron spec %q is followed by another field, %q: want 5 fields (no seconds field)", s.Spec, s.Type)
	}
	if rest == "" {
		return Schedule{}, errors.New("missing the JSON payload after the type (write {} for none)")
	}
	dec := json.NewDecoder(strings.NewReader(rest))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return Schedule{}, fmt.Errorf("payload is not JSON: %w", err)
	}
	s.Payload = bytes.TrimSpace(raw)
	rest = rest[dec.InputOffset():]
	if rest != "" && !strings.ContainsAny(rest[:1], " \t") {
		return Schedule{}, fmt.Errorf("unexpected %q right after the payload", rest)
	}
	set := map[string]bool{}
	for _, opt := range strings.Fields(rest) {
		k, v, hasValue := strings.Cut(opt, "=")
		if set[k] {
			return Schedule{}, fmt.Errorf("option %s given twice", k)
		}
		set[k] = true
		switch {
		case k == "name" && hasValue && v != "":
			s.Name = v
		case k == "catch_up" && hasValue:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > CatchUpMax {
				return Schedule{}, fmt.Errorf("catch_up=%s: want 0 (skip missed ticks) to %d", v, CatchUpMax)
			}
			s.CatchUp = n
		case k == "no_overlap" && !hasValue:
			s.NoOverlap = true
		default:
			return Schedule{}, fmt.Errorf("unknown option %q after the payload; want name=NAME, catch_up=N or no_overlap", opt)
		}
	}
	return s, nil
}

// cutWord returns the first white-space-separated word of s and the rest.
func cutWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t")
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], strings.TrimLeft(s[i:], " \t")
	}
	return s, ""
}
