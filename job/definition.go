package job

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults for the fields of [Definition].
const (
	// QueueDefault is the queue a definition uses when Queue is empty.
	QueueDefault = "default"
	// TimeoutDefault is the per-attempt timeout when Timeout is zero.
	TimeoutDefault = 30 * time.Minute
	// MaxRetryDefault is the retry budget when MaxRetry is zero.
	MaxRetryDefault = 25
	// NoRetry as MaxRetry means a single attempt.
	NoRetry = -1
	// DedupeWindowMin is the shortest DedupeWindow a definition may set.
	DedupeWindowMin = time.Second
)

// Definition is one job type with payload type P.
//
// Only Type and Handle are required; every other field has a documented
// default. A Definition must not be changed after it is registered.
type Definition[P any] struct {
	// Type is the task type name, e.g. "webhook.deliver". It is a fixed
	// string rather than derived from P, so renaming a Go type never orphans
	// queued jobs.
	Type string

	// Handle runs one attempt. Returning nil completes the job; any error
	// fails the attempt and, unless it is permanent, the queue retries it
	// later with Backoff.
	Handle func(ctx context.Context, p P) error

	// Queue is the queue tasks are enqueued to. Defaults to "default".
	Queue string

	// Timeout bounds one attempt. Defaults to 30 minutes.
	Timeout time.Duration

	// MaxRetry is how many times a failed attempt is retried before the
	// task is archived. Zero means MaxRetryDefault (25); use NoRetry for a
	// single attempt.
	MaxRetry int

	// DedupeKey derives the key under which the job runs at most once:
	// while it runs a duplicate is deferred, after it succeeded a duplicate
	// is skipped (for DedupeWindow, else the runner's, 24h by default). Keys are
	// per job type. A nil func or an empty result means no dedupe; ByTaskID
	// dedupes on the task ID (the original's, for a copy the runner
	// re-enqueued), for producers that set their own task IDs. On a
	// schedule's tick the key is scoped to the tick: every tick runs, and a
	// duplicate of one tick is skipped.
	DedupeKey func(p P) string

	// DedupeWindow is how long a success under a DedupeKey is remembered:
	// a duplicate within it is skipped, one after it runs again. Each
	// completed job keeps a record in Redis for the window, so the window
	// sets the dedupe layer's memory (docs/capacity.md): a payment may need
	// days, a thumbnail minutes. Zero means the runner's
	// Config.DedupeWindow (24h unless configured); otherwise at least
	// DedupeWindowMin.
	DedupeWindow time.Duration

	// Lock derives the distributed lock held while the handler runs. A nil
	// func or an empty Key means no lock.
	Lock func(p P) Lock

	// Dependencies derives the names of the circuit breakers the job needs
	// (e.g. "payment-api"). A nil func means none.
	Dependencies func(p P) []string

	// Backoff returns the delay before retry number retried+1 after err:
	// RetryLong, RetryShort or a func of your own. Nil means the runner's
	// default (Config.RetryBackoff, RetryLong unless configured). A
	// callee's retry-after hint takes precedence.
	Backoff func(retried int, err error) time.Duration

	// MaxDeferral bounds how long a job may keep being deferred without
	// running (breaker open, lock busy, duplicate in flight): after that it
	// is archived with reason deferred_too_long. Zero means the runner's
	// Config.MaxDeferral (24h unless configured).
	MaxDeferral time.Duration
}

// ByTaskID is a DedupeKey that dedupes on the task ID: use it as
// DedupeKey: job.ByTaskID[P].
func ByTaskID[P any](P) string { return byTaskID }

// byTaskID is the key ByTaskID returns; Prepare turns it into
// Prepared.DedupeByTaskID. No key a user derives can start with a NUL.
const byTaskID = "\x00task-id"

// Lock describes the distributed lock a job holds while it runs.
type Lock struct {
	// Key names the locked resource, e.g. "invoice:123". Empty means no
	// lock.
	Key string
	// TTL is the lease length; the worker renews it every TTL/3 while the
	// handler runs. Defaults to lockstore.LockTTLDefault (30s).
	TTL time.Duration
	// Wait is how long to wait for a busy lock before deferring the job.
	// Defaults to lockstore.LockWaitDefault (10s).
	Wait time.Duration
	// FailOpen runs the handler without the lock when Redis cannot be
	// reached, logging each time. Only for locks that merely save work.
	// Defaults to false: the job is deferred instead.
	FailOpen bool
}

// Options are the queue-level settings of a job type, with defaults
// applied: the fields mean what the Definition's fields of the same name
// mean (MaxRetry is never 0 here: the default is filled in, and NoRetry
// stays NoRetry).
type Options struct {
	Queue       string
	Timeout     time.Duration
	MaxRetry    int
	Backoff     func(retried int, err error) time.Duration
	MaxDeferral time.Duration // 0 means the runner's default
	// DedupeWindow is Definition.DedupeWindow; 0 means the runner's
	// default.
	DedupeWindow time.Duration
}

// Prepared is one decoded payload bound to its handler, with the keys the
// middleware needs.
type Prepared struct {
	// Payload is the decoded payload value (a P).
	Payload        any
	DedupeKey      string
	DedupeByTaskID bool
	Lock           Lock
	Dependencies   []string

	def payloadHandler // the definition that prepared it, whose Handle runs Payload
}

// payloadHandler is a definition seen by Prepared.Run: its handler, called
// with a payload of its type.
type payloadHandler interface {
	handle(ctx context.Context, payload any) error
}

// Run calls the definition's handler with the decoded payload. A Prepared
// not made by Spec.Prepare has no handler: Run returns an error.
func (p Prepared) Run(ctx context.Context) error {
	if p.def == nil {
		return errors.New("job: Run of a Prepared that Spec.Prepare did not make")
	}
	return p.def.handle(ctx, p.Payload)
}

// Spec is the type-erased view of a definition that the runner and the
// enqueue CLI use. *Definition[P] implements it.
type Spec interface {
	// TypeName returns the task type name (Definition.Type).
	TypeName() string
	// Options returns the queue, timeout, retry budget and backoff with
	// defaults applied.
	Options() Options
	// Prepare decodes and validates payload strictly. Errors are
	// *PayloadError.
	Prepare(payload []byte) (Prepared, error)
}

var _ Spec = (*Definition[struct{}])(nil)

// TypeName returns d.Type.
func (d *Definition[P]) TypeName() string { return d.Type }

// Options returns d's settings with defaults applied.
func (d *Definition[P]) Options() Options {
	o := Options{Queue: d.Queue, Timeout: d.Timeout, MaxRetry: d.MaxRetry, Backoff: d.Backoff, MaxDeferral: d.MaxDeferral, DedupeWindow: d.DedupeWindow}
	if o.Queue == "" {
		o.Queue = QueueDefault
	}
	if o.Timeout <= 0 {
		o.Timeout = TimeoutDefault
	}
	switch {
	case o.MaxRetry == 0:
		o.MaxRetry = MaxRetryDefault
	case o.MaxRetry < 0:
		o.MaxRetry = NoRetry
	}
	return o
}

// Prepare decodes payload into a P, validates it and binds the handler.
func (d *Definition[P]) Prepare(payload []byte) (Prepared, error) {
	p, err := d.Decode(payload)
	if err != nil {
		return Prepared{}, err
	}
	return d.bind(p), nil
}

func (d *Definition[P]) bind(p P) Prepared {
	pr := Prepared{Payload: p}
	if d.DedupeKey != nil {
		if pr.DedupeKey = d.DedupeKey(p); pr.DedupeKey == byTaskID {
			pr.DedupeKey, pr.DedupeByTaskID = "", true
		}
	}
	if d.Lock != nil {
		if l := d.Lock(p); l.Key != "" {
			pr.Lock = l
		}
	}
	if d.Dependencies != nil {
		pr.Dependencies = d.Dependencies(p)
	}
	pr.def = d // no closure per job: Run asks d to handle Payload
	return pr
}

// handle calls d.Handle with payload, a P (see Prepared.Run).
func (d *Definition[P]) handle(ctx context.Context, payload any) error {
	return d.Handle(ctx, payload.(P))
}

// Decode decodes and validates payload strictly into a P.
func (d *Definition[P]) Decode(payload []byte) (P, error) {
	p, err := Decode[P](payload)
	if err != nil {
		var pe *PayloadError
		if errors.As(err, &pe) {
			pe.Type = d.Type
		}
	}
	return p, err
}

// check reports a definition that cannot be registered.
func (d *Definition[P]) check() error {
	switch {
	case d == nil:
		return errors.New("job: nil definition")
	case d.Type == "":
		return errors.New("job: definition has an empty Type")
	case d.Handle == nil:
		return fmt.Errorf("job %s: definition has a nil Handle", d.Type)
	case d.Timeout < 0:
		return fmt.Errorf("job %s: Timeout %v is negative", d.Type, d.Timeout)
	case d.MaxDeferral < 0:
		return fmt.Errorf("job %s: MaxDeferral %v is negative", d.Type, d.MaxDeferral)
	case d.DedupeWindow != 0 && d.DedupeWindow < DedupeWindowMin:
		return fmt.Errorf("job %s: DedupeWindow %v is shorter than %v", d.Type, d.DedupeWindow, DedupeWindowMin)
	}
	return nil
}
