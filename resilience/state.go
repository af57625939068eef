package resilience

import "fmt"

// State is the state of a Breaker. The numeric values are the ones to export
// as a gauge: 0 closed, 1 half-open, 2 open.
type State uint8

// The states of a Breaker.
const (
	// StateClosed admits every call and watches the outcomes.
	StateClosed State = iota
	// StateHalfOpen admits a few probes to find out whether the dependency
	// has recovered.
	StateHalfOpen
	// StateOpen refuses every call until its open period ends.
	StateOpen
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	default:
		return fmt.Sprintf("State(%d)", uint8(s))
	}
}

// Result is what a finished call tells a breaker about its dependency.
type Result uint8

const (
	// Neutral says nothing about the dependency (the call was cancelled,
	// the request was invalid, the call never reached it). It is ignored,
	// except that a half-open probe gives its slot back. It is the zero
	// value, so a forgotten result can never open a breaker.
	Neutral Result = iota
	// Success counts towards closing and resets a failure streak.
	Success
	// Failure counts towards opening.
	Failure
)

// String returns "neutral", "success" or "failure".
func (r Result) String() string {
	switch r {
	case Neutral:
		return "neutral"
	case Success:
		return "success"
	case Failure:
		return "failure"
	default:
		return fmt.Sprintf("Result(%d)", uint8(r))
	}
}

// ticket is the admission of one call by Breaker.begin. It is a small value
// (no allocation) remembering the breaker's generation at admission: every
// state change starts a new generation, and outcomes reported with a ticket
// of an older generation are ignored. The zero ticket belongs to no
// generation, so reporting it does nothing.
type ticket struct{ gen uint64 }
