package runner

import (
	"cmp"
	"context"
	"github.com/jobrunner/jobrunner/internal/lockcore"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jobrunner/jobrunner/internal/fleet"
	"github.com/jobrunner/jobrunner/internal/logkey"
	"github.com/jobrunner/jobrunner/job"
)

// The status endpoints (/status.json, /status) answer "why is this job
// not running?": this replica's attempts in flight and breakers, and the
// fleet-wide state read from Redis by package fleet. Nothing runs while
// nobody asks: each request reads what it shows.
const (
	// statusTimeout bounds each reading of Redis for the status: a Redis
	// that hangs costs a request no more, and the parts it could not read
	// are named in "errors".
	statusTimeout = time.Second
	// statusReuse is how long one reading of Redis is served again to
	// other requests, so that any number of viewers cost Redis at most
	// one reading per statusReuse (about 3 pipelined round trips).
	statusReuse = time.Second
)

// statusDoc is /status.json: docs/operations.md documents it field by
// field.
type statusDoc struct {
	GeneratedAt string           `json:"generated_at"`
	Replica     replicaStatus    `json:"replica"`
	InFlight    []inFlightStatus `json:"in_flight"`
	fleet.Status
}

// replicaStatus is the answering worker.
type replicaStatus struct {
	Host        string         `json:"host"`
	PID         int            `json:"pid"`
	Ready       bool           `json:"ready"`
	NotReady    string         `json:"not_ready,omitempty"` // /readyz's reason
	Concurrency int            `json:"concurrency"`
	Queues      map[string]int `json:"queues"`
	Types       []string       `json:"types"`
}

// inFlightStatus is one attempt running on the answering worker.
type inFlightStatus struct {
	TaskID    string `json:"task_id"`
	Type      string `json:"type"`
	Queue     string `json:"queue"`
	Attempt   int    `json:"attempt"`
	Started   string `json:"started"`
	RunningMS int64  `json:"running_ms"`
	// Phase is "layers" while the middleware admits the attempt or
	// settles its outcome, "handler" while the handler runs, "abandoned"
	// once a drain gave up on it.
	Phase     string `json:"phase"`
	LockKey   string `json:"lock_key,omitempty"`
	Fence     int64  `json:"fence,omitempty"`
	DedupeKey string `json:"dedupe_key,omitempty"`
	// Progress is what the handler last reported with job.Progress; nil
	// when it reported nothing.
	Progress *progressStatus `json:"progress,omitempty"`
}

// progressStatus is a job's reported progress.
type progressStatus struct {
	Done  int `json:"done"`
	Total int `json:"total"`
}

// statusCache shares one reading of the fleet-wide status between the
// requests of statusReuse, and one reading in progress between those that
// arrive meanwhile.
type statusCache struct {
	mu      sync.Mutex
	at      time.Time
	st      fleet.Status
	ok      bool
	reading chan struct{} // closed when the reading in progress ends; nil when none is
}

// status returns the whole status at now.
func (r *Runner) status(ctx context.Context) statusDoc {
	now := r.cfg.Now()
	doc := statusDoc{GeneratedAt: fleet.Stamp(now), Replica: r.replicaStatus(), InFlight: r.inFlightStatus(now)}
	doc.Status = r.fleetStatus(ctx)
	// The fleet's breakers are the shared ones as Redis has them; this
	// replica's own local ones join them.
	doc.Breakers = slices.Clone(doc.Breakers)
	for _, s := range r.breakers.Snapshot() {
		if !s.Shared {
			doc.Breakers = append(doc.Breakers, fleet.LocalBreaker(s, now))
		}
	}
	slices.SortFunc(doc.Breakers, func(a, b fleet.Breaker) int {
		return cmp.Or(strings.Compare(a.Dependency, b.Dependency), strings.Compare(a.Scope, b.Scope))
	})
	return doc
}

func (r *Runner) replicaStatus() replicaStatus {
	host, _ := os.Hostname()
	rs := replicaStatus{Host: host, PID: os.Getpid(), Concurrency: r.cfg.Concurrency, Queues: r.cfg.Queues, Types: r.registry.Types()}
	if reason := r.notReady(); reason != "" {
		rs.NotReady = r.sanitizeText(reason)
	} else {
		rs.Ready = true
	}
	return rs
}

func (r *Runner) inFlightStatus(now time.Time) []inFlightStatus {
	attempts := r.tracker.inFlight()
	out := make([]inFlightStatus, 0, len(attempts))
	for _, a := range attempts {
		s := inFlightStatus{
			TaskID: a.id, Type: a.typ, Queue: a.queue, Attempt: a.attempt,
			Started: fleet.Stamp(a.start), RunningMS: fleet.Ms(now.Sub(a.start)), Phase: "layers",
		}
		switch {
		case a.abandoned:
			s.Phase = "abandoned"
		case a.inHandler:
			s.Phase = "handler"
		}
		if adm := a.admission; adm != nil {
			if adm.Lock != nil {
				s.LockKey, s.Fence = r.sanitizeText(logkey.Cap(adm.Lock.Key())), adm.Lock.Fence()
			}
			if adm.Marker != nil {
				s.DedupeKey = r.sanitizeText(logkey.Cap(adm.Marker.Key()))
			}
		}
		if p := a.progress; p != nil {
			p.mu.Lock()
			if p.reported {
				s.Progress = &progressStatus{Done: p.done, Total: p.total}
			}
			p.mu.Unlock()
		}
		out = append(out, s)
	}
	return out
}

// fleetStatus returns a reading of the fleet-wide status no older than
// statusReuse, reading Redis if there is none. The reading runs on its own
// deadline (statusTimeout), apart from the request that started it, which
// waits for it no longer than ctx allows.
func (r *Runner) fleetStatus(ctx context.Context) fleet.Status {
	c := &r.statusCache
	for {
		c.mu.Lock()
		// Real time, not Config.Now: the reuse bounds Redis's load.
		if c.ok && time.Since(c.at) < statusReuse {
			st := c.st
			c.mu.Unlock()
			return st
		}
		if wait := c.reading; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return fleet.Status{Errors: []fleet.SectionError{{Section: "redis", Error: context.Cause(ctx).Error()}}}
			}
		}
		done := make(chan struct{})
		c.reading = done
		c.mu.Unlock()

		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusTimeout)
		st := fleet.Read(rctx, r.fleetConfig())
		cancel()
		c.mu.Lock()
		c.st, c.at, c.ok, c.reading = st, time.Now(), true, nil
		c.mu.Unlock()
		close(done)
		return st
	}
}

// fleetConfig is what fleet.Read needs of the runner's configuration.
func (r *Runner) fleetConfig() fleet.Config {
	fc := fleet.Config{
		Redis: r.cfg.Redis, Queues: fleet.QueueNames(r.cfg.Queues), Locks: r.store,
		SharedBreakers: r.cfg.Breakers.Shared, Sanitize: r.sanitizeText, Now: r.cfg.Now,
		Limits: make(map[string]fleet.Limit, len(r.cfg.Limits)),
	}
	for dep, l := range r.cfg.Limits {
		fc.Limits[dep] = fleet.Limit{Concurrency: l.Concurrency, Rate: lockcore.Rate(l.Rate)}
	}
	r.mu.Lock()
	for _, e := range r.schedules {
		queue := job.QueueDefault
		if spec, ok := r.registry.Lookup(e.Type); ok {
			queue = spec.Options().Queue
		}
		fc.Schedules = append(fc.Schedules, fleet.Schedule{Entry: e, Queue: queue})
	}
	r.mu.Unlock()
	return fc
}
