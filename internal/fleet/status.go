package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Status is the fleet-wide part of a deployment's state: what Read
// returns, and the keys of /status.json and enqueue --status --output
// json that do not depend on the replica answering. docs/operations.md
// documents it field by field.
type Status struct {
	// Breakers are the shared breakers (Scope "shared"), by dependency;
	// the worker's page adds its own local breakers (Scope "local").
	Breakers []Breaker `json:"breakers"`
	// Limits are the configured dependency limits, by dependency.
	Limits []LimitStatus `json:"limits"`
	// Schedules are the periodic jobs, in configuration order.
	Schedules []ScheduleStatus `json:"schedules"`
	// Deferred counts the jobs waiting because of a deferral.
	Deferred Deferred `json:"deferred"`
	// Batches are the batches in progress, the newest first.
	Batches Batches `json:"batches"`
	// Errors names the parts that could not be read, each with the
	// (sanitized) error; the other parts are complete.
	Errors []SectionError `json:"errors,omitempty"`
}

// SectionError is a part of the status that could not be read.
type SectionError struct {
	// Section is "breakers", "limits", "schedules", "deferred" or
	// "batches".
	Section string `json:"section"`
	Error   string `json:"error"`
}

// Read reads the fleet-wide status from Redis, its five parts at once,
// within ctx (give it a deadline: every Redis call honours it). It
// changes nothing in Redis. A part that fails is left empty and named in
// Status.Errors.
func Read(ctx context.Context, cfg Config) Status {
	cfg = cfg.withDefaults()
	if cfg.Redis == nil {
		return Status{Errors: []SectionError{{Section: "redis", Error: errNoRedis.Error()}}}
	}
	now := cfg.Now()
	var st Status
	var mu sync.Mutex
	fail := func(section string, err error) {
		mu.Lock()
		defer mu.Unlock()
		st.Errors = append(st.Errors, SectionError{Section: section, Error: cfg.Sanitize(err.Error())})
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		b, err := readBreakers(ctx, cfg)
		if err != nil {
			fail("breakers", err)
		}
		st.Breakers = b
	})
	wg.Go(func() {
		l, err := readLimits(ctx, cfg)
		if err != nil {
			fail("limits", err)
		}
		st.Limits = l
	})
	wg.Go(func() {
		s, err := readSchedules(ctx, cfg, now)
		if err != nil {
			fail("schedules", err)
		}
		st.Schedules = s
	})
	wg.Go(func() {
		d, err := readDeferred(ctx, cfg, now)
		if err != nil {
			fail("deferred", err)
		}
		st.Deferred = d
	})
	wg.Go(func() {
		b, err := readBatches(ctx, cfg, now)
		if err != nil {
			fail("batches", err)
		}
		st.Batches = b
	})
	wg.Wait()
	slices.SortFunc(st.Errors, func(a, b SectionError) int { return strings.Compare(a.Section, b.Section) })
	if st.Breakers == nil {
		st.Breakers = []Breaker{}
	}
	if st.Limits == nil {
		st.Limits = []LimitStatus{}
	}
	if st.Schedules == nil {
		st.Schedules = []ScheduleStatus{}
	}
	if st.Batches.InProgress == nil {
		st.Batches.InProgress = []BatchStatus{}
	}
	return st
}

// Ms returns d in whole milliseconds, the unit of every duration of the
// status (fields ending in _ms).
func Ms(d time.Duration) int64 { return d.Milliseconds() }

// Stamp returns t in RFC 3339 in UTC with milliseconds, or "" for the zero
// time.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// MsText writes a duration in milliseconds for people: "850ms", "12s",
// "4m10s", "3h05m", "2d04h".
func MsText(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", ms)
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
