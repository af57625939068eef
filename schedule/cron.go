package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// clock is when a schedule fires: the next tick strictly after a time.
type clock interface {
	next(t time.Time) time.Time
}

// parseSpec parses a cron spec: five fields or a descriptor, optionally
// after a CRON_TZ=zone (or TZ=zone) word. It returns the spec normalised
// (words separated by one space) and its clock.
//
// robfig/cron parses; two of its choices are overridden so that every
// replica computes the same ticks: a spec without a zone runs in UTC (not
// the machine's local zone), and @every d ticks at the multiples of d since
// the Unix epoch (cron's own @every counts from whenever it is asked, so
// two replicas started a second apart would never agree on a tick).
func parseSpec(spec string) (string, clock, error) {
	words := strings.Fields(spec)
	if len(words) == 0 {
		return "", nil, errors.New("cron spec is empty")
	}
	norm := strings.Join(words, " ")
	loc, zone := time.UTC, ""
	if k, v, ok := strings.Cut(words[0], "="); ok && (k == "CRON_TZ" || k == "TZ") {
		l, err := time.LoadLocation(v)
		if err != nil || v == "" {
			return "", nil, fmt.Errorf("time zone %q: want an IANA name such as Europe/Paris or UTC", v)
		}
		loc, zone, words = l, v, words[1:]
		if len(words) == 0 {
			return "", nil, fmt.Errorf("cron spec %q has a time zone and nothing else", norm)
		}
	}
	if words[0] == "@every" {
		if zone != "" {
			return "", nil, fmt.Errorf("cron spec %q: @every ticks at multiples of its period since the Unix epoch; a time zone has no meaning there", norm)
		}
		if len(words) != 2 {
			return "", nil, fmt.Errorf("cron spec %q: want @every DURATION, e.g. @every 30s", norm)
		}
		d, err := time.ParseDuration(words[1])
		if err != nil || d < time.Second || d%time.Second != 0 {
			return "", nil, fmt.Errorf("cron spec %q: want a whole number of seconds, at least 1s, e.g. @every 30s", norm)
		}
		return norm, every(d), nil
	}
	if strings.HasPrefix(words[0], "@") && len(words) != 1 {
		return "", nil, fmt.Errorf("cron spec %q: a descriptor stands alone", norm)
	}
	if !strings.HasPrefix(words[0], "@") && len(words) != 5 {
		return "", nil, fmt.Errorf("cron spec %q: want 5 fields (minute hour day-of-month month day-of-week) or a descriptor such as @hourly or @every 30s, got %d fields", norm, len(words))
	}
	s, err := cron.ParseStandard("CRON_TZ=" + loc.String() + " " + strings.Join(words, " "))
	if err != nil {
		return "", nil, fmt.Errorf("cron spec %q: %w", norm, err)
	}
	c := cronClock{s, loc}
	// robfig/cron gives up after five years and returns the zero time (a
	// February 30th, say).
	if c.next(time.Now()).IsZero() {
		return "", nil, fmt.Errorf("cron spec %q never fires", norm)
	}
	return norm, c, nil
}

// cronClock is a robfig/cron schedule in its time zone.
type cronClock struct {
	s   cron.Schedule
	loc *time.Location
}

func (c cronClock) next(t time.Time) time.Time { return c.s.Next(t.In(c.loc)) }

// every ticks at the multiples of its duration, whole seconds, since the
// Unix epoch.
type every time.Duration

func (e every) next(t time.Time) time.Time {
	n := int64(time.Duration(e) / time.Second)
	u := t.Unix() // floor: t.Unix() drops the fraction of t's second
	return time.Unix((floorDiv(u, n)+1)*n, 0).UTC()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
