package lockstore

import (
	"context"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// ReleaseResult says what Release found.
type ReleaseResult int

// What Release found.
const (
	// Released: the lease still held the lock, which is now free.
	Released ReleaseResult = iota + 1
	// Expired: the lock had expired; nothing was deleted.
	Expired
	// NotOwner: another owner holds the lock now; it was left alone.
	NotOwner
)

func (r ReleaseResult) String() string { return lockcore.ReleaseResult(r).String() }

// Lease is one grant of a lock. Its methods are safe for concurrent use.
type Lease struct {
	l *lockcore.Lease
}

// Key returns the lock key as passed to Acquire.
func (l *Lease) Key() string { return l.l.Key() }

// Token returns the random owner token of this grant.
func (l *Lease) Token() string { return l.l.Token() }

// Fence returns the fencing token of this grant: larger than the fence of
// every earlier grant of the key.
func (l *Lease) Fence() int64 { return l.l.Fence() }

// TTL returns the TTL the lease was granted and is extended for.
func (l *Lease) TTL() time.Duration { return l.l.TTL() }

// Deadline returns the local deadline: when the lease counts as lost
// unless extended before.
func (l *Lease) Deadline() time.Time { return l.l.Deadline() }

// Lost returns a channel closed when the lease is lost.
func (l *Lease) Lost() <-chan struct{} { return l.l.Lost() }

// Err returns nil while the lease holds, and an error matching ErrLockLost
// once it is lost.
func (l *Lease) Err() error { return l.l.Err() }

// Extend renews the lease for its TTL, in one round trip. It returns an
// error matching ErrLockLost when the key was gone or taken, and another
// error when Redis did not answer; the lease is then still held until its
// deadline, so try again.
func (l *Lease) Extend(ctx context.Context) error { return l.l.Extend(ctx) }

// Release deletes the lock if this lease still owns it, atomically.
func (l *Lease) Release(ctx context.Context) (ReleaseResult, error) {
	r, err := l.l.Release(ctx)
	return ReleaseResult(r), err
}
