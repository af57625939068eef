// Package lockstore provides distributed locks with fencing tokens on
// Redis, for code that needs mutual exclusion outside a job: a migration
// that must run on one replica, a cache rebuild, an admin command.
//
// A worker author does not need it: a job's lock is declared on its
// definition (its Lock: job.Lock) and the runner takes, renews and
// releases it. The one name from here a job sees is ErrLockLost, the cause
// of the context of a job whose lock or in-flight marker was lost while it
// ran. The runner's own store (admissions, completed records, checkpoints,
// limits, the renewer) is internal to this module and uses the same keys
// and scripts, so a lock taken here excludes a job that declares the same
// lock key, and the reverse.
//
// # Locks
//
// Store.Acquire takes a lock for a TTL (LockTTLDefault, 30s), waiting up to
// a wait (LockWaitDefault, 10s) with jittered exponential backoff while
// another owner holds it. The returned *Lease carries a random owner token
// (128 bits, 32 hex digits) and a fencing token: a number that strictly
// increases with every grant of the key, handed out in the same script that
// sets the lock. Release is an atomic compare-and-delete and says whether it
// Released the lock, found it Expired, or found a NotOwner. When the wait
// runs out, the error matches ErrNotObtained; any other error means Redis
// did not answer as it should, and the caller should fail closed.
//
//	lease, err := store.Acquire(ctx, "invoice:123", 30*time.Second, 10*time.Second)
//	if errors.Is(err, lockstore.ErrNotObtained) {
//		return retryLater(err) // busy: not a failure
//	} else if err != nil {
//		return retryLater(err) // Redis down: fail closed, never run unlocked
//	}
//	defer lease.Release(context.WithoutCancel(ctx))
//	err = write(ctx, lease.Fence()) // the resource checks the fence
//
// A lease lives for its TTL unless extended: call Extend at about a third
// of the TTL while the work runs. Lost closes, and Err returns an error
// matching ErrLockLost, when the lease's local deadline (its TTL after the
// request that granted or last extended it, less a drift allowance) passes
// or an Extend finds the key gone or taken. A failed Extend loses nothing
// by itself: only the deadline does.
//
// # Fencing
//
// A lease can expire under a paused holder (GC, a stalled VM), so a lock
// alone does not keep two holders apart. The resource the lock protects must
// reject writes from an older grant: store the fence with the data and write
// only when the new fence is larger, for example
//
//	UPDATE accounts SET balance = $1, fence = $2 WHERE id = $3 AND fence < $2
//
// where zero rows affected means a later holder got there first.
//
// A fence is the larger of the key's last fence + 1 and the Redis server's
// clock (TIME) in microseconds, so a failover to a replica that missed the
// last grant still hands out a larger fence: the failover takes longer
// than the lost grant is ahead of the replica's clock. The assumption: the
// clocks of a primary and its replicas agree to within the failover time.
// The lock key keeps its fence when released and expires 24 hours after
// its last write, when the clock has long passed it. The scripts use SET
// ... GET: Redis 6.2 or later. MemoryStore keeps one plain counter from 1.
//
// # Redis keys
//
// Keys live under a prefix (PrefixDefault, "jobrunner") with the lock key
// as a Cluster hash tag: jobrunner:{invoice:123}:lock holds the lock's
// fence, its holder's deadline and owner token. Single node, Sentinel (a
// failover client) and Cluster all work.
//
// See docs/dedupe-and-locks.md for how the worker uses locks.
package lockstore
