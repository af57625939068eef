// Package lockcore holds the state behind the runner's layers in Redis:
// distributed locks with fencing tokens, two-state job deduplication
// (in-flight markers and completed records), checkpoints, dependency
// limits and the Renewer that keeps leases alive, so that work runs at most
// once at a time and, within a window, at most once.
//
// It is internal to the module: the runner binds it to jobs (a lock layer,
// a dedupe layer, a limit layer and one Renewer per worker), the status
// page reads limits through it, and package lockstore offers its locks
// (Acquire and Lease) to other code. What follows is for maintainers.
//
// # Locks
//
// Store.Acquire takes a lock for a TTL (LockTTLDefault, 30s), waiting up to
// a wait (LockWaitDefault, 10s) with jittered exponential backoff while
// another owner holds it. The returned *Lease carries a random owner token
// (128 bits, 32 hex digits) and a fencing token: a number that strictly
// increases with every grant of the key, handed out in the same script that
// sets the lock.
// Release is an atomic compare-and-delete and says whether it Released the
// lock, found it Expired, or found a NotOwner. When the wait runs out, the
// error is a *NotObtainedError naming the key and the wait; when Redis fails,
// it is a *StoreError, so the caller can fail closed.
//
//	lease, err := store.Acquire(ctx, "invoice:123", 30*time.Second, 10*time.Second)
//	if errors.Is(err, lockcore.ErrNotObtained) {
//		return retryLater(err) // busy: not a failure
//	} else if err != nil {
//		return retryLater(err) // Redis down: fail closed, never run unlocked
//	}
//	defer lease.Release(context.WithoutCancel(ctx))
//	err = write(ctx, lease.Fence()) // the resource checks the fence
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
// clock (TIME) in microseconds, an int64 near 1.8e15. The clock is there for
// failovers: replication is asynchronous, so a primary can acknowledge a
// grant and die before its replica has it, and a plain counter on the
// promoted replica would hand out the same number again, to a second
// holder. With the clock, the replica's next grant is larger than the lost
// one, because the failover itself takes longer (seconds) than the lost
// grant is ahead of the replica's clock. The assumption: the clocks of the
// primary and its replicas agree to within the failover time (NTP keeps
// them within milliseconds; a failover takes at least
// down-after-milliseconds or cluster-node-timeout). Data lost by a restart
// without persistence does not reset fences either. A key granted more
// than once per microsecond runs ahead of the clock by that many steps and
// then counts on by one. The scripts use SET ... NX GET: Redis 7.0 or
// later.
//
// The alternative, WAIT for a replica after each grant and fail closed when
// none acknowledges, would cost a round trip per job and stop every lock
// while a replica is away; it still would not cover a replica that
// acknowledged and then lost the write. MemoryStore, which has no replicas,
// keeps one plain counter from 1 for all its keys.
//
// The fence lives in the lock key (see lua/lock.lua), which a release
// leaves in place, free, and which expires 24 hours after its last write:
// by then the server's clock has passed the last fence, so the next grant,
// which follows the clock, is larger still. Only a clock set back by more
// than a day could repeat a fence. The TTL comes with the SET that writes
// the key, so it costs no command.
//
// # Losing a lease
//
// Every Lease knows its local deadline (its TTL after the request that
// granted or last renewed it, less a drift allowance) and closes Lost when
// the deadline passes without a renewal, or when a renewal finds the key gone
// or taken. A Renewer renews all tracked leases of a process in one pipeline
// per tick, at about a third of their TTL, and reports losses to a callback,
// typically a context's cancel function with the loss (matching
// ErrLockLost) as its cause. ErrLockLost and *LostError are neutral: their
// Neutral method returns true, so circuit breakers ignore them.
//
// A renewal that fails or times out loses nothing: only the deadline does,
// so a lease is lost when it really may have expired in Redis, not because
// Redis was slow. Failed renewals are retried until then (a timed-out one
// at once). Each round trip runs on its own, up to
// RenewerConfig.MaxInFlight per store, so one that hangs (a stuck
// connection, a hung cluster node) does not hold up the renewal of other
// leases; a lease is never in two at once. A reply that comes late extends
// the deadline from the time its request was sent, never moving it back.
// Redis stopped for less than about two thirds of the TTL (the time left
// after the last renewal) costs no lease; stopped longer, each lease is
// lost at its deadline. Give the go-redis client ContextTimeoutEnabled, or
// a round trip on a hung Redis waits for the client's read timeout instead
// of its deadline.
//
// # Deduplication
//
// A dedupe key has two states. While a job runs, an in-flight marker holds
// its task ID and the admission's own token (a lease like a lock, renewed
// the same way); after success, a completed record keeps the job's result
// bytes for a window (WindowDefault, 24h). Store.Admit answers Admitted,
// TakenOver (the same task ID was in flight: a redelivery, which fences the
// earlier attempt out: its renewals fail with ErrLockLost and its
// completion records nothing), InFlightElsewhere (defer, never drop) or
// Done (skip; the stored result comes back). Store.Complete writes
// the record and clears the marker, Store.Abandon only clears it, so a
// failed attempt never blocks its retry.
//
// Admit can take the job's lock in the same script, and Complete and Abandon
// release it: a job with both a dedupe key and a lock costs one round trip in
// and one out. On Redis Cluster that holds when both keys hash to one slot;
// otherwise Admit takes two round trips (see RedisStore).
//
//	adm, err := store.Admit(ctx, lockcore.AdmitRequest{
//		DedupeKey: "email:welcome:42", TaskID: taskID,
//		LockKey: "account:42",
//	})
//	// handle err and adm.Verdict; run the job when adm.Verdict.Runs()
//	_, err = store.Complete(ctx, lockcore.CompleteRequest{
//		Marker: adm.Marker, Lock: adm.Lock, Result: receipt,
//	})
//
// # Checkpoints
//
// A Checkpoint is the place a piece of work saved so far, kept beside the
// lease that fences it: an in-flight marker (its dedupe key names the work)
// or a lock (with a Name for the work, since a lock names a shared
// resource). Store.SaveCheckpoint writes it only while the lease still
// holds its key, in the same script as the check, so an attempt that lost
// its marker (a redelivery took it over) or its lock (it expired under a
// pause) cannot overwrite the place its successor saved: it gets a
// *LostError and its lease is marked lost. LoadCheckpoint reads it the same
// way. Both give the checkpoint a TTL (CheckpointTTLDefault, 24h), and
// Complete drops it in the same step when its request names it, as
// DropCheckpoint does for work given up for good.
//
//	c := lockcore.Checkpoint{Lease: adm.Marker}
//	place, ok, err := store.LoadCheckpoint(ctx, c, 0)
//	// ... work from place, saving it now and then:
//	err = store.SaveCheckpoint(ctx, c, next, 0)
//	// ... and at the end:
//	_, err = store.Complete(ctx, lockcore.CompleteRequest{Marker: adm.Marker, Checkpoint: &c})
//
// # Redis keys
//
// Keys live under a prefix (PrefixDefault, "jobrunner") with the user key as
// a Cluster hash tag, so that every key of one lock or dedupe key shares a
// slot: jobrunner:{invoice:123}:lock and :inflight. The :inflight
// key holds the marker while a job runs. A completed record without a
// result is a field of a bucket, a small hash shared by many dedupe keys
// in the marker's slot (see bucket.go and RedisConfig.Buckets: about 35
// bytes a record against 130 for a key); with a result, it replaces the
// marker in the :inflight key (read and written by one command: see
// complete.lua), byte 1 and then the result. Checkpoints live beside their lease's key: :checkpoint for a marker's,
// :checkpoint:<name> for a lock's. A lock key lives a day after its last
// write (see Fencing), so there is one per lock key used within the last
// day.
//
// # Limits
//
// TakeSlot and TakeRate keep a dependency within a concurrency cap and a
// rate across processes (see Rate and LimitedError); a slot is a lease,
// renewed like a lock, and names its holder (the waiter argument).
// InspectLimit reads a limit's state without changing it, for status
// pages: the slots' holders, the refused takers, the starts in the rate's
// window, its queue of refused starts and a pause. Their keys share the
// slot of the tag {limit:KEY}.
//
// # Testing
//
// MemoryStore has the semantics of RedisStore in one process, with an
// injectable clock (MemoryConfig.Now) and SetError to simulate an outage. Both pass the
// acceptance suite in package lockcoretest.
//
// See docs/dedupe-and-locks.md for how the worker uses them.
package lockcore
