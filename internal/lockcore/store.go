package lockcore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults used when a duration is left zero.
const (
	// LockTTLDefault is the TTL of a lock.
	LockTTLDefault = 30 * time.Second
	// LockWaitDefault is how long Acquire and Admit wait for a busy lock.
	LockWaitDefault = 10 * time.Second
	// MarkerTTLDefault is the TTL of an in-flight marker.
	MarkerTTLDefault = 300 * time.Second
	// WindowDefault is how long a completed record is kept.
	WindowDefault = 24 * time.Hour
	// RetryMinDefault is the first pause between attempts on a busy lock.
	RetryMinDefault = 10 * time.Millisecond
	// RetryMaxDefault caps the pause between attempts on a busy lock.
	RetryMaxDefault = 500 * time.Millisecond
)

// Store holds locks and dedupe markers. RedisStore is the implementation for
// production, shared by all workers; MemoryStore is one for a single process
// and for unit tests. Both pass the same acceptance suite,
// lockcoretest.Run. Leases are built inside this package, so Store is not
// meant to be implemented elsewhere: wrap one of the two instead.
//
// Every method that can fail because of the backing store returns a
// *StoreError then, so callers can fail closed.
type Store interface {
	// Acquire takes the lock of key, waiting up to wait while another owner
	// holds it, retrying with jittered exponential backoff. A zero ttl means
	// LockTTLDefault, a zero wait LockWaitDefault, a negative wait a single
	// attempt. It returns a *NotObtainedError when the wait runs out or ctx
	// ends first.
	Acquire(ctx context.Context, key string, ttl, wait time.Duration) (*Lease, error)

	// Admit admits a job under a dedupe key and/or takes its lock, in one
	// round trip when both keys live on one node. See AdmitRequest and
	// Verdict. A busy lock is retried like Acquire; when the wait runs out,
	// Admit returns a *NotObtainedError and holds nothing.
	Admit(ctx context.Context, req AdmitRequest) (Admission, error)

	// Complete records a success: it writes the completed record of the
	// marker's dedupe key with the result bytes, deletes the in-flight
	// marker and releases the lock, each deletion only if still owned, in
	// one round trip. Either lease may be nil.
	Complete(ctx context.Context, req CompleteRequest) (Completion, error)

	// Abandon records a failure: it deletes the in-flight marker and
	// releases the lock, each only if still owned, and writes no completed
	// record, so a retry is admitted. Either lease may be nil.
	Abandon(ctx context.Context, marker, lock *Lease) (Completion, error)

	// SaveCheckpoint saves value as c's checkpoint for ttl (zero means
	// CheckpointTTLDefault), if c's lease still holds its key, in one
	// script. Otherwise it writes nothing, marks the lease lost (its
	// Renewer callbacks run, as for a failed renewal) and returns a
	// *LostError: an attempt that lost its lease cannot overwrite the
	// checkpoint of the one that replaced it.
	SaveCheckpoint(ctx context.Context, c Checkpoint, value []byte, ttl time.Duration) error

	// LoadCheckpoint returns c's checkpoint and whether there is one, and
	// gives it ttl again (zero means CheckpointTTLDefault), if c's lease
	// still holds its key; otherwise it returns a *LostError as
	// SaveCheckpoint does.
	LoadCheckpoint(ctx context.Context, c Checkpoint, ttl time.Duration) ([]byte, bool, error)

	// DropCheckpoint deletes c's checkpoint if c's lease still holds its
	// key (a *LostError otherwise): the work is over. Complete drops the
	// checkpoint named in its request in the same step.
	DropCheckpoint(ctx context.Context, c Checkpoint) error

	// Renew extends all the given leases of this store in one round trip.
	// It updates each lease: a new local deadline on success, lost when the
	// key was gone or owned by another. It returns a *StoreError only when
	// the round trip failed; leases already released or lost are skipped.
	Renew(ctx context.Context, leases ...*Lease) error

	// TakeSlot takes one of n concurrency slots of key for ttl (zero means
	// SlotTTLDefault) without waiting. The slot is a lease: renew it with a
	// Renewer while the work runs and give it back with ReleaseSlot. When
	// all n are held it returns a *LimitedError (matching ErrLimited) and,
	// when waiter is not empty, remembers it, so that a ReleaseSlot can
	// hand it out to be woken. A slot taken names waiter as its holder
	// (InspectLimit lists it).
	TakeSlot(ctx context.Context, key string, n int, ttl time.Duration, waiter string) (*Lease, error)

	// ReleaseSlot gives a slot taken by TakeSlot back, and returns the
	// longest-waiting waiter of its key ("" when none) for the caller to
	// wake: a slot just freed. (Lease.Release gives a slot back too, and
	// drops the waiter.)
	ReleaseSlot(ctx context.Context, slot *Lease) (waiter string, err error)

	// TakeRate admits one start under rate for key, without waiting. When
	// the rate is reached it returns a *LimitedError whose RetryIn is this
	// start's place in the queue of refused starts.
	TakeRate(ctx context.Context, key string, rate Rate) error

	// PauseRate holds the starts of key's rate limit back for d, as a
	// dependency that answered 429 or 503 with a Retry-After asks.
	PauseRate(ctx context.Context, key string, rate Rate, d time.Duration) error

	// InspectLimit reads the state of key's limits without changing it:
	// the holders of its concurrency slots, the refused takers waiting,
	// and its rate limit's starts within the last per (zero: no rate),
	// queue of refused starts and pause. It is for status pages.
	InspectLimit(ctx context.Context, key string, per time.Duration) (LimitState, error)

	// expireIn sets the TTL of l's key to d if l still holds it, as
	// extend.lua does; it returns the script's reply (1, 0, -1).
	expireIn(ctx context.Context, d time.Duration, l *Lease) (int64, error)
}

// Verdict is the answer of an admission.
type Verdict int

const (
	// Admitted means the job may run: the marker was free and is now held
	// (and the lock, when requested, is held).
	Admitted Verdict = iota + 1
	// TakenOver means the marker was already held by the same task ID, a
	// redelivery after a crash or a requeue: the job may run and now holds
	// the marker (and the lock, when requested). The marker now carries
	// this admission's token, so the attempt it replaced, if it still runs,
	// is fenced out: its renewals find the marker lost (its Renewer reports
	// ErrLockLost) and its Complete writes no completed record.
	TakenOver
	// InFlightElsewhere means another task ID holds the marker: defer the
	// job and retry later; never drop it.
	InFlightElsewhere
	// Done means a completed record exists within the dedupe window: skip
	// the job; Admission.Result holds the stored result.
	Done
)

func (o Verdict) String() string {
	switch o {
	case Admitted:
		return "admitted"
	case TakenOver:
		return "taken_over"
	case InFlightElsewhere:
		return "in_flight_elsewhere"
	case Done:
		return "done"
	}
	return fmt.Sprintf("Verdict(%d)", int(o))
}

// Runs reports whether the job may run: Admitted or TakenOver.
func (o Verdict) Runs() bool { return o == Admitted || o == TakenOver }

// AdmitRequest asks Store.Admit to admit a job. At least one of DedupeKey and
// LockKey must be set.
type AdmitRequest struct {
	// DedupeKey is the dedupe key of the job. Empty means no dedupe: the
	// request only takes the lock, like Acquire.
	DedupeKey string
	// TaskID identifies this delivery's task; the in-flight marker holds it
	// with the admission's own token, so a redelivery with the same ID
	// takes the marker over and fences the earlier attempt out. It is
	// required with DedupeKey.
	TaskID string
	// MarkerTTL is the in-flight marker's TTL; renew the marker lease
	// (a Renewer does) to keep it beyond. Zero means MarkerTTLDefault.
	MarkerTTL time.Duration
	// LockKey is the lock to take. Empty means no lock.
	LockKey string
	// LockTTL is the lock's TTL. Zero means LockTTLDefault.
	LockTTL time.Duration
	// LockWait is how long to wait for a busy lock. Zero means
	// LockWaitDefault; negative means a single attempt.
	LockWait time.Duration
}

func (r AdmitRequest) withDefaults() AdmitRequest {
	r.MarkerTTL = cmp.Or(r.MarkerTTL, MarkerTTLDefault)
	r.LockTTL = cmp.Or(r.LockTTL, LockTTLDefault)
	r.LockWait = cmp.Or(r.LockWait, LockWaitDefault)
	return r
}

// admitOpening is the start every Store's Admit shares: defaults, checks,
// and a request without a dedupe key, which is a plain Acquire. done is
// true when it answered the request.
func admitOpening(ctx context.Context, s Store, req *AdmitRequest) (a Admission, done bool, err error) {
	*req = req.withDefaults()
	if err := req.validate(); err != nil {
		return Admission{}, true, err
	}
	if req.DedupeKey != "" {
		return Admission{}, false, nil
	}
	lock, err := s.Acquire(ctx, req.LockKey, req.LockTTL, req.LockWait)
	if err != nil {
		return Admission{}, true, err
	}
	return Admission{Verdict: Admitted, Lock: lock}, true, nil
}

// liveLeases is the start every Store's Renew shares: the leases still to
// renew, all of which must belong to s.
func liveLeases(s Store, leases []*Lease) ([]*Lease, error) {
	var live []*Lease
	for _, l := range leases {
		if l == nil || l.done() {
			continue
		}
		if l.store != s {
			return nil, errors.New("lockstore: renew: lease of another store")
		}
		live = append(live, l)
	}
	return live, nil
}

func (r AdmitRequest) validate() error {
	switch {
	case r.DedupeKey == "" && r.LockKey == "":
		return errors.New("lockstore: AdmitRequest: DedupeKey or LockKey is required")
	case r.DedupeKey != "" && r.TaskID == "":
		return errors.New("lockstore: AdmitRequest.TaskID is required with DedupeKey")
	case r.MarkerTTL < time.Millisecond:
		return errors.New("lockstore: AdmitRequest.MarkerTTL must be at least 1ms")
	case r.LockTTL < time.Millisecond:
		return errors.New("lockstore: AdmitRequest.LockTTL must be at least 1ms")
	}
	return nil
}

// Admission is the answer of Store.Admit.
type Admission struct {
	// Verdict says whether the job may run.
	Verdict Verdict
	// Holder is the task ID holding the marker when Verdict is
	// InFlightElsewhere.
	Holder string
	// HolderTTL is how long the holder's marker lives unless renewed, when
	// Verdict is InFlightElsewhere: a marker handed over to expiry (see
	// Lease.ExpireAfter) says when the job may run.
	HolderTTL time.Duration

	// Result is the stored result when Verdict is Done; it may be empty.
	Result []byte
	// Marker is the in-flight marker lease when the job may run and a
	// DedupeKey was given; nil otherwise.
	Marker *Lease
	// Lock is the lock lease when the job may run and a LockKey was given;
	// nil otherwise.
	Lock *Lease
}

// Leases returns the non-nil leases of a, for Renewer.Track.
func (a Admission) Leases() []*Lease {
	var ls []*Lease
	for _, l := range []*Lease{a.Marker, a.Lock} {
		if l != nil {
			ls = append(ls, l)
		}
	}
	return ls
}

// CompleteRequest asks Store.Complete to record a success.
type CompleteRequest struct {
	// Marker is the in-flight marker lease from Admit. Nil means no dedupe:
	// no completed record is written.
	Marker *Lease
	// Lock is the lock lease to release. Nil means none.
	Lock *Lease
	// Result is kept in the completed record and returned to later
	// admissions of the same dedupe key. Nil stores an empty result.
	Result []byte
	// Window is how long the completed record is kept. Zero means
	// WindowDefault.
	Window time.Duration
	// Checkpoint, when not nil, is deleted with the completion: the work
	// whose place it kept is done. It must be fenced by Marker (deleted in
	// the same script, unless another admission holds the marker) or, with
	// no Marker, by Lock (deleted if the lock is still held, in the same
	// round trip).
	Checkpoint *Checkpoint
}

// checkCheckpoint checks that r's Checkpoint, if any, is fenced by its
// Marker or, without one, by its Lock.
func (r CompleteRequest) checkCheckpoint() error {
	c := r.Checkpoint
	if c == nil {
		return nil
	}
	if err := c.validate("complete"); err != nil {
		return err
	}
	if fence := cmp.Or(r.Marker, r.Lock); c.Lease != fence {
		return errors.New("lockstore: complete: CompleteRequest.Checkpoint must be fenced by Marker, or by Lock when there is no Marker")
	}
	return nil
}

// Completion says what Complete or Abandon found. A zero field means the
// lease was not given.
type Completion struct {
	// Marker is what deleting the in-flight marker found.
	Marker ReleaseResult
	// Lock is what releasing the lock found. Expired or NotOwner after a
	// success means the work may have overlapped with another holder:
	// log it.
	Lock ReleaseResult
}

func validateKey(op, key string) error {
	if key == "" {
		return fmt.Errorf("lockstore: %s: empty key", op)
	}
	return nil
}

// lockParams checks the key of an Acquire and applies its defaults.
func lockParams(key string, ttl, wait time.Duration) (time.Duration, time.Duration, error) {
	if err := validateKey("acquire", key); err != nil {
		return 0, 0, err
	}
	ttl = cmp.Or(ttl, LockTTLDefault)
	wait = cmp.Or(wait, LockWaitDefault)
	if ttl < time.Millisecond {
		return 0, 0, errors.New("lockstore: acquire: ttl must be at least 1ms")
	}
	return ttl, wait, nil
}
