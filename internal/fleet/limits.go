package fleet

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// LimitStatus is a configured dependency limit as the status shows it.
type LimitStatus struct {
	// Dependency is the limited dependency's name.
	Dependency string `json:"dependency"`
	// Concurrency is the concurrency cap's state; omitted without one.
	Concurrency *ConcurrencyStatus `json:"concurrency,omitempty"`
	// Rate is the rate limit's state; omitted without one.
	Rate *RateStatus `json:"rate,omitempty"`
}

// ConcurrencyStatus is a concurrency cap's state.
type ConcurrencyStatus struct {
	// Limit is the cap: the most jobs holding the dependency at once.
	Limit int `json:"limit"`
	// InUse is the slots held now, fleet-wide.
	InUse int `json:"in_use"`
	// Holders are the jobs holding them, the soonest end of lease first
	// (at most 100).
	Holders []Holder `json:"holders"`
	// Waiting is the refused jobs remembered to be woken when a slot
	// frees (some may have run since).
	Waiting int `json:"waiting"`
}

// Holder is a job holding a concurrency slot.
type Holder struct {
	TaskID string `json:"task_id"`
	Queue  string `json:"queue,omitempty"`
	// ExpiresInMS is how long the slot's lease has left unless renewed
	// (the holder's worker renews it while the job runs).
	ExpiresInMS int64 `json:"expires_in_ms"`
}

// RateStatus is a rate limit's state.
type RateStatus struct {
	// Limit is the rate as configured, e.g. "100/s" or "5/s burst 5".
	Limit string `json:"limit"`
	// Capacity is the starts one window admits (N + burst - 1).
	Capacity int `json:"capacity"`
	// WindowMS is the window: the rate's interval.
	WindowMS int64 `json:"window_ms"`
	// Starts is the starts admitted within the last window.
	Starts int `json:"starts"`
	// QueueMS is the length of the queue of refused starts: a job
	// refused now would wait at least this long for its turn (0: none
	// waits).
	QueueMS int64 `json:"queue_ms"`
	// PausedMS is how long a callee's Retry-After still holds every start
	// back (0: no pause).
	PausedMS int64 `json:"paused_ms"`
}

// readLimits reads every configured limit's state.
func readLimits(ctx context.Context, cfg Config) ([]LimitStatus, error) {
	out := make([]LimitStatus, 0, len(cfg.Limits))
	for _, dep := range slices.Sorted(maps.Keys(cfg.Limits)) {
		l := cfg.Limits[dep]
		per := l.Rate.Per
		if l.Rate.N == 0 {
			per = 0
		}
		st, err := cfg.Locks.InspectLimit(ctx, dep, per)
		if err != nil {
			return out, fmt.Errorf("limit %q: %w", dep, err)
		}
		ls := LimitStatus{Dependency: dep}
		if l.Concurrency > 0 {
			c := &ConcurrencyStatus{Limit: l.Concurrency, InUse: st.InUse, Holders: make([]Holder, 0, len(st.Holders)), Waiting: st.Waiting}
			for _, h := range st.Holders {
				queue, id, ok := strings.Cut(h.Holder, "\n")
				if !ok {
					queue, id = "", h.Holder
				}
				c.Holders = append(c.Holders, Holder{TaskID: id, Queue: queue, ExpiresInMS: Ms(h.ExpiresIn)})
			}
			ls.Concurrency = c
		}
		if l.Rate.N > 0 {
			ls.Rate = &RateStatus{
				Limit: l.Rate.String(), Capacity: l.Rate.N + max(l.Rate.Burst, 1) - 1, WindowMS: Ms(l.Rate.Per),
				Starts: st.Starts, QueueMS: Ms(st.QueuedFor), PausedMS: Ms(st.PausedFor),
			}
		}
		out = append(out, ls)
	}
	return out, nil
}
