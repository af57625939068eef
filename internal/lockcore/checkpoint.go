package lockcore

import (
	"errors"
	"time"
)

// Checkpoint names the place a piece of work saved so far, kept beside the
// lease that fences it (see Store.SaveCheckpoint): an in-flight marker, whose
// dedupe key names the work, or a lock, which names a resource that several
// pieces of work may share, so Name tells them apart. Only the holder of
// the lease can write it; a holder that lost the lease (it expired, or a
// redelivery took the marker over) is refused, so it cannot overwrite the
// place the newer holder saved.
//
// The key lives in the lease key's hash tag, so the check and the write are
// one script on Redis Cluster too:
//
//	jobrunner:{<dedupe key>}:checkpoint
//	jobrunner:{<lock key>}:checkpoint:<name>
type Checkpoint struct {
	// Lease fences the checkpoint: a marker or a lock lease (not a
	// concurrency slot).
	Lease *Lease
	// Name tells apart the checkpoints beside one lock, such as a job's
	// type and ID. It is required with a lock and must be empty with a
	// marker, so the two never share a key.
	Name string
}

// CheckpointTTLDefault is a checkpoint's TTL when none is given.
const CheckpointTTLDefault = 24 * time.Hour

// validate checks c's lease and name.
func (c Checkpoint) validate(op string) error {
	switch {
	case c.Lease == nil:
		return errors.New("lockstore: " + op + ": Checkpoint.Lease is nil")
	case c.Lease.slot:
		return errors.New("lockstore: " + op + ": a concurrency slot cannot fence a checkpoint")
	case c.Lease.marker && c.Name != "":
		return errors.New("lockstore: " + op + ": a marker's checkpoint takes no Name (the dedupe key names the work)")
	case !c.Lease.marker && c.Name == "":
		return errors.New("lockstore: " + op + ": a lock's checkpoint needs a Name (the lock key names a shared resource)")
	}
	return nil
}

// usable returns the error of an operation on c's checkpoint that must not
// reach the store: a lease known lost, or released.
func (c Checkpoint) usable() error {
	l := c.Lease
	if err := l.Err(); err != nil {
		return err
	}
	if l.done() {
		return &LostError{Key: l.key, Marker: l.marker, Reason: LostGone}
	}
	return nil
}

// refused records a fenced reply (0: the lease's key was gone; -1: another
// value held it) as the loss of c's lease and returns the loss.
func (c Checkpoint) refused(n int64) error {
	c.Lease.renewed(n, time.Time{})
	if err := c.Lease.Err(); err != nil {
		return err
	}
	// Released meanwhile by the holder itself.
	return &LostError{Key: c.Lease.key, Marker: c.Lease.marker, Reason: LostGone}
}
