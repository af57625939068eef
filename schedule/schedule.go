package schedule

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/jobrunner/jobrunner/job"
)

// CatchUpMax bounds Schedule.CatchUp: a schedule that wants more than this
// many missed ticks enqueued after an outage wants a backfill job instead.
const CatchUpMax = 1000

// Schedule declares a periodic job: each tick of Spec enqueues one task of
// job type Type with Payload.
type Schedule struct {
	// Name identifies the schedule: its ticks' task IDs, its Redis key, its
	// lock and its metric label derive from it. Empty means a name derived
	// from Spec, Type and Payload ("<type>-<12 hex digits of their
	// SHA-256>"), the same on every replica. Name one to keep its identity
	// (and its record of the last tick) across changes of the spec or the
	// payload. A name has no white space, at most 200 characters.
	Name string

	// Spec says when the schedule ticks: five cron fields (minute hour
	// day-of-month month day-of-week, e.g. "*/5 * * * *"), or a
	// descriptor: @hourly, @daily (or @midnight), @weekly, @monthly,
	// @yearly (or @annually), or "@every D" with D a whole number of
	// seconds. A leading CRON_TZ=Zone (or TZ=Zone) word sets the time zone
	// of the fields; without one they are in UTC, so that every replica
	// agrees whatever its local zone. "@every D" ticks at the multiples of D
	// since the Unix epoch (so "@every 1h" on the hour, UTC) and takes no
	// zone.
	Spec string

	// Type is the job type each tick enqueues; it must be registered.
	Type string

	// Payload is the JSON payload of every tick's task, validated by the
	// job type's definition. Nil means {}.
	Payload json.RawMessage

	// CatchUp is what happens to ticks missed while no replica ran the
	// schedule: 0 skips them (the default; the log says schedule.skipped),
	// N > 0 enqueues the most recent N of them on start and skips the
	// rest. At most CatchUpMax.
	CatchUp int

	// NoOverlap means never two runs at once: a tick's task holds a lock
	// on the schedule's name while it runs, so a run longer than the
	// period defers the next tick until it ends, and while that tick waits
	// further ticks are skipped (schedule.skipped, reason overlap) instead
	// of piling up. A job type with its own Lock keeps it instead. Defaults
	// to false: ticks run independently.
	NoOverlap bool
}

// For returns a schedule of d's job on spec with payload p, encoded as
// d.NewTask encodes it. Its payload is validated when the schedule is
// compiled (runner.Runner.Schedule does).
func For[P any](d *job.Definition[P], spec string, p P) (Schedule, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule: %s payload: %w", d.Type, err)
	}
	return Schedule{Spec: spec, Type: d.Type, Payload: b}, nil
}

// Entry is a compiled Schedule: its spec parsed, its payload validated, its
// name resolved. It is immutable and safe for concurrent use.
type Entry struct {
	// Schedule is the declaration, normalised: Name filled in, Spec with
	// single spaces, Payload compacted.
	Schedule
	clock clock
}

// Compile checks s and returns its entry. With a registry, Type must be
// registered and Payload must pass the definition's strict decoding and
// validation (job.Spec.Prepare), as the enqueue CLI checks payloads; with a
// nil registry the payload need only be one JSON value other than null.
func Compile(s Schedule, reg *job.Registry) (*Entry, error) {
	spec, c, err := parseSpec(s.Spec)
	if err != nil {
		return nil, err
	}
	s.Spec = spec
	if s.Type == "" {
		return nil, errors.New("job type is empty")
	}
	payload := []byte(s.Payload)
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = []byte("{}")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, payload); err != nil {
		return nil, fmt.Errorf("payload is not JSON: %w", err)
	}
	s.Payload = compact.Bytes()
	if reg != nil {
		sp, ok := reg.Lookup(s.Type)
		if !ok {
			return nil, fmt.Errorf("job type %q is not registered (known: %s)", s.Type, strings.Join(reg.Types(), ", "))
		}
		if _, err := sp.Prepare(s.Payload); err != nil {
			return nil, err
		}
	} else if string(s.Payload) == "null" {
		return nil, job.ErrNullPayload
	}
	switch {
	case s.CatchUp < 0 || s.CatchUp > CatchUpMax:
		return nil, fmt.Errorf("catch_up %d: want 0 (skip missed ticks) to %d", s.CatchUp, CatchUpMax)
	case s.Name == "":
		sum := sha256.Sum256([]byte(s.Spec + "\n" + s.Type + "\n" + string(s.Payload)))
		s.Name = s.Type + "-" + hex.EncodeToString(sum[:6])
	case len(s.Name) > 200 || strings.IndexFunc(s.Name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return nil, fmt.Errorf("name %q: want at most 200 printable characters without white space", s.Name)
	}
	return &Entry{Schedule: s, clock: c}, nil
}

// Next returns the schedule's first tick strictly after t, in the
// schedule's time zone (UTC for @every).
func (e *Entry) Next(t time.Time) time.Time { return e.clock.next(t) }

// TaskID returns the task ID of the schedule's tick at tick: the same on
// every replica, so that all but the first enqueue of a tick conflict
// (asynq.ErrTaskIDConflict) and do nothing. It is
// "schedule:<name>:<tick in UTC, RFC 3339>".
func (e *Entry) TaskID(tick time.Time) string { return TaskID(e.Name, tick) }

// TaskID returns the task ID of the tick at tick of the schedule named
// name: "schedule:<name>:<tick in UTC, RFC 3339>".
func TaskID(name string, tick time.Time) string {
	return "schedule:" + name + ":" + tick.UTC().Format(time.RFC3339)
}

// Period returns the time from tick to the next tick: for cron fields it
// varies ("0 9 * * 1-5" has gaps of one and three days).
func (e *Entry) Period(tick time.Time) time.Duration { return e.Next(tick).Sub(tick) }
