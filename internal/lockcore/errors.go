package lockcore

import (
	"errors"
	"fmt"
	"time"

	"github.com/jobrunner/jobrunner/internal/logkey"
)

// ErrNotObtained reports that a lock was still held by another owner when
// the wait ran out. Acquire and Admit return it inside a *NotObtainedError,
// so test it with errors.Is.
var ErrNotObtained = errors.New("lockstore: not obtained")

// ErrLockLost reports that a lease (a lock or an in-flight marker) is gone:
// its key expired or changed hands while its holder still worked. It is the
// cause the runner gives the handler's context when the renewer reports a
// loss. Its Neutral method returns true, so circuit breakers do not count it
// as a failure of the protected dependency. The detailed error is a
// *LostError, which matches ErrLockLost with errors.Is.
var ErrLockLost error = neutralError("lockstore: lock lost")

// neutralError is a sentinel that circuit breakers should ignore.
type neutralError string

func (e neutralError) Error() string { return string(e) }

// Neutral reports that the error says nothing about a dependency's health.
func (neutralError) Neutral() bool { return true }

// NotObtainedError is returned when a lock could not be taken within the
// wait, or before the context ended. It matches ErrNotObtained with
// errors.Is; when the context ended first, it also matches the context's
// error (context.DeadlineExceeded, context.Canceled or the cause).
type NotObtainedError struct {
	// Key is the lock key.
	Key string
	// Wait is how long the caller was prepared to wait.
	Wait time.Duration
	// Err is the context's cause when the context ended before the wait;
	// nil when the wait itself ran out.
	Err error
}

func (e *NotObtainedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("lockstore: lock %q not obtained: %v", logkey.Cap(e.Key), e.Err)
	}
	return fmt.Sprintf("lockstore: lock %q not obtained within %s", logkey.Cap(e.Key), e.Wait)
}

// Is makes errors.Is(err, ErrNotObtained) true.
func (e *NotObtainedError) Is(target error) bool { return target == ErrNotObtained }

// Unwrap returns the context's error, if any.
func (e *NotObtainedError) Unwrap() error { return e.Err }

// LostReason says how a lease was lost.
type LostReason int

const (
	// LostGone means the key no longer existed: it expired in Redis, or was
	// deleted.
	LostGone LostReason = iota + 1
	// LostNotOwner means the key was held by another owner.
	LostNotOwner
	// LostExpired means the local deadline passed before a renewal
	// succeeded, typically because Redis could not be reached; the key may
	// still exist, but nothing guarantees it any longer.
	LostExpired
)

func (r LostReason) String() string {
	switch r {
	case LostGone:
		return "gone"
	case LostNotOwner:
		return "not_owner"
	case LostExpired:
		return "expired"
	}
	return fmt.Sprintf("LostReason(%d)", int(r))
}

// LostError describes a lost lease. It matches ErrLockLost with errors.Is and,
// like it, is neutral for circuit breakers.
type LostError struct {
	// Key is the lock key, or the dedupe key when Marker is true.
	Key string
	// Marker is true when the lost lease is an in-flight marker.
	Marker bool
	// Slot is true when the lost lease is a concurrency slot.
	Slot bool
	// Reason says how the lease was lost.
	Reason LostReason
	// Err is the last renewal error when Reason is LostExpired, if any.
	Err error
}

func (e *LostError) Error() string {
	what := "lock"
	switch {
	case e.Marker:
		what = "in-flight marker"
	case e.Slot:
		what = "concurrency slot"
	}
	s := fmt.Sprintf("lockstore: %s %q lost (%s)", what, logkey.Cap(e.Key), e.Reason)
	if e.Err != nil {
		s += ": last renewal error: " + e.Err.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrLockLost) true.
func (e *LostError) Is(target error) bool { return target == ErrLockLost }

// Unwrap returns the last renewal error, if any.
func (e *LostError) Unwrap() error { return e.Err }

// Neutral reports that a lost lease says nothing about a dependency's
// health.
func (e *LostError) Neutral() bool { return true }

// StoreError wraps an error of the backing store (Redis unreachable, a
// timeout, a script error). Callers that must fail closed test for it with
// errors.As and defer the work instead of running it unprotected.
type StoreError struct {
	// Op is the operation that failed, such as "acquire" or "renew".
	Op string
	// Key is the lock or dedupe key, empty for batch operations.
	Key string
	// Err is the underlying error.
	Err error
}

func (e *StoreError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("lockstore: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("lockstore: %s %q: %v", e.Op, logkey.Cap(e.Key), e.Err)
}

// Unwrap returns the store's error.
func (e *StoreError) Unwrap() error { return e.Err }

func storeErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	return &StoreError{Op: op, Key: key, Err: err}
}
