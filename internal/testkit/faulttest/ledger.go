package faulttest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/begin.lua
	beginLua    string
	beginScript = redis.NewScript(beginLua)

	//go:embed lua/finish.lua
	finishLua    string
	finishScript = redis.NewScript(finishLua)
)

// Ledger records what jobs do, on a Redis that no fault touches, and is
// the fenced resource their locks protect. It is safe for concurrent use
// and across processes: every record is one script.
type Ledger struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewLedger returns a ledger keeping its keys under prefix on rdb.
func NewLedger(rdb redis.UniversalClient, prefix string) *Ledger {
	if prefix == "" {
		prefix = "ledger"
	}
	return &Ledger{rdb: rdb, prefix: prefix}
}

func (l *Ledger) key(name string) string { return l.prefix + ":" + name }

// Event is one ledger record.
type Event struct {
	// Kind is "begin", "end" or "kill".
	Kind string `json:"kind"`
	// Run identifies one handler run; begin and end share it.
	Run  string `json:"run,omitempty"`
	ID   string `json:"id,omitempty"`
	Proc string `json:"proc,omitempty"`
	// Lock and Dedupe are the run's lock and dedupe keys.
	Lock   string `json:"lock,omitempty"`
	Dedupe string `json:"dedupe,omitempty"`
	// Dep is the run's dependency, whose concurrency limit bounds how many
	// runs hold it at once.
	Dep string `json:"dep,omitempty"`
	// Fence is the run's fencing token; -1 when it asked for a lock and ran
	// without a fence in its context.
	Fence   int64 `json:"fence,omitempty"`
	Attempt int   `json:"attempt,omitempty"`
	// Outcome ends a run: done, failed, panic, cancelled or stale.
	Outcome string `json:"outcome,omitempty"`
	// Cause is context.Cause of a cancelled run; LockLost says it matched
	// lockcore.ErrLockLost.
	Cause    string `json:"cause,omitempty"`
	LockLost bool   `json:"lock_lost,omitempty"`
	// UnixNano is the reporting process's clock, for messages only: the
	// list's order is the order of events.
	UnixNano int64 `json:"t,omitempty"`
}

// Attempt counts a handler entry for job id and returns the count.
func (l *Ledger) Attempt(ctx context.Context, id string) (int, error) {
	n, err := l.rdb.HIncrBy(ctx, l.key("attempts"), id, 1).Result()
	return int(n), err
}

// Begin records the start of a run and checks its fence; it returns false
// when the fence is stale.
func (l *Ledger) Begin(ctx context.Context, ev Event) (bool, error) {
	ev.Kind = "begin"
	b, _ := json.Marshal(ev)
	n, err := beginScript.Run(ctx, l.rdb, []string{l.key("events"), l.key("fence"), l.key("stale")},
		string(b), ev.Lock, ev.Fence).Int()
	return n == 1, err
}

// Finish records the end of a run; with effect it applies the run's side
// effect as a fenced write, and returns false when the fence was stale and
// the effect refused.
func (l *Ledger) Finish(ctx context.Context, ev Event, effect bool) (bool, error) {
	ev.Kind = "end"
	b, _ := json.Marshal(ev)
	eff := "0"
	if effect {
		eff = "1"
	}
	n, err := finishScript.Run(ctx, l.rdb,
		[]string{l.key("events"), l.key("fence"), l.key("stale"), l.key("effects"), l.key("done")},
		string(b), ev.Lock, ev.Fence, eff, ev.Dedupe, ev.ID).Int()
	return n == 1, err
}

// Kill records that process proc died: its open runs end here.
func (l *Ledger) Kill(ctx context.Context, proc string) error {
	b, _ := json.Marshal(Event{Kind: "kill", Proc: proc})
	return l.rdb.RPush(ctx, l.key("events"), b).Err()
}

// ResetFences forgets the fences seen, for a lock store that lost its data
// (a Redis restart without persistence restarts fences at 1).
func (l *Ledger) ResetFences(ctx context.Context) error {
	return l.rdb.Del(ctx, l.key("fence")).Err()
}

// Events returns every event in order.
func (l *Ledger) Events(ctx context.Context) ([]Event, error) { return l.list(ctx, "events") }

// Stale returns the runs whose fence was rejected.
func (l *Ledger) Stale(ctx context.Context) ([]Event, error) { return l.list(ctx, "stale") }

func (l *Ledger) list(ctx context.Context, name string) ([]Event, error) {
	raw, err := l.rdb.LRange(ctx, l.key(name), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(raw))
	for _, s := range raw {
		var ev Event
		if err := json.Unmarshal([]byte(s), &ev); err != nil {
			return nil, fmt.Errorf("ledger: bad event %q: %w", s, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// Effects returns the side effects applied per dedupe key.
func (l *Ledger) Effects(ctx context.Context) (map[string]int, error) {
	return l.counts(ctx, "effects")
}

// Done returns the side effects applied per job ID.
func (l *Ledger) Done(ctx context.Context) (map[string]int, error) { return l.counts(ctx, "done") }

// Attempts returns the handler entries per job ID.
func (l *Ledger) Attempts(ctx context.Context) (map[string]int, error) {
	return l.counts(ctx, "attempts")
}

func (l *Ledger) counts(ctx context.Context, name string) (map[string]int, error) {
	raw, err := l.rdb.HGetAll(ctx, l.key(name)).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(raw))
	for k, v := range raw {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("ledger: %s[%s] = %q", name, k, v)
		}
		out[k] = n
	}
	return out, nil
}

// Overlap is two runs holding one resource at once.
type Overlap struct {
	// Resource is "lock:<key>" or "dedupe:<key>".
	Resource string
	// Held is the run that held the resource; Began is the one that began
	// meanwhile.
	Held, Began Event
}

func (o Overlap) String() string {
	return fmt.Sprintf("%s: run %s (job %s, proc %s, fence %d) began while run %s (job %s, proc %s, fence %d) held it",
		o.Resource, o.Began.Run, o.Began.ID, o.Began.Proc, o.Began.Fence, o.Held.Run, o.Held.ID, o.Held.Proc, o.Held.Fence)
}

// Overlaps replays events and returns every time a run began while another
// run held the same lock key or dedupe key. A kill event ends the open runs
// of its process.
func Overlaps(events []Event) []Overlap {
	open := map[string]map[string]Event{} // resource -> run -> begin
	var out []Overlap
	for _, ev := range events {
		switch ev.Kind {
		case "begin":
			for _, res := range resources(ev) {
				held := open[res]
				if held == nil {
					held = map[string]Event{}
					open[res] = held
				}
				for _, h := range sortedRuns(held) {
					out = append(out, Overlap{Resource: res, Held: h, Began: ev})
				}
				held[ev.Run] = ev
			}
		case "end":
			for _, res := range resources(ev) {
				delete(open[res], ev.Run)
			}
		case "kill":
			for _, held := range open {
				for run, h := range held {
					if h.Proc == ev.Proc {
						delete(held, run)
					}
				}
			}
		}
	}
	return out
}

func resources(ev Event) []string {
	var rs []string
	if ev.Lock != "" {
		rs = append(rs, "lock:"+ev.Lock)
	}
	if ev.Dedupe != "" {
		rs = append(rs, "dedupe:"+ev.Dedupe)
	}
	return rs
}

func sortedRuns(m map[string]Event) []Event {
	out := make([]Event, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Event) int { return strings.Compare(a.Run, b.Run) })
	return out
}
