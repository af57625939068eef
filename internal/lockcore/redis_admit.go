package lockcore

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Admit implements Store. With a dedupe key and a lock in one slot it is one
// script (admit.lua) per attempt; see RedisStore for Cluster.
func (s *RedisStore) Admit(ctx context.Context, req AdmitRequest) (Admission, error) {
	if a, done, err := admitOpening(ctx, s, &req); done {
		return a, err
	}
	if req.LockKey == "" || s.sameSlot(req.DedupeKey, req.LockKey) {
		return s.admit(ctx, req)
	}
	// Two slots: marker first, then the lock with its wait.
	lockKey := req.LockKey
	req.LockKey = ""
	a, err := s.admit(ctx, req)
	if err != nil || !a.Verdict.Runs() {
		return a, err
	}
	a.Lock, err = s.Acquire(ctx, lockKey, req.LockTTL, req.LockWait)
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		_, _ = s.Abandon(rctx, a.Marker, nil)
		return Admission{}, err
	}
	return a, nil
}

// releaseTimeout bounds the clean-up of a half-done admission.
const releaseTimeout = 2 * time.Second

// admit runs admit.lua until it settles or the lock wait runs out.
func (s *RedisStore) admit(ctx context.Context, req AdmitRequest) (Admission, error) {
	token, marker := newMarker(req.TaskID)
	b := newCallBuf(admitScript) // the first round's call; later rounds make their own
	keys := append(b.call.keys, s.keys.inflight(req.DedupeKey))
	args := append(b.call.args, marker, s.ms.arg(req.MarkerTTL)) // the marker holds the token and the task ID
	if req.LockKey != "" {
		keys = append(keys, s.keys.lock(req.LockKey))
		args = append(args, s.ms.arg(req.LockTTL))
	}
	var bucket string
	var fieldArg any
	if s.buckets.n > 0 {
		if req.LockKey == "" {
			args = append(args, "")
		}
		bucket, fieldArg = s.buckets.key(req.DedupeKey, s.buckets.n), field(req.DedupeKey)
		keys = append(keys, bucket)
		nb := 1
		if s.buckets.before > 0 {
			keys = append(keys, s.buckets.key(req.DedupeKey, s.buckets.before))
			nb = 2
		}
		args = append(args, fieldArg, nb)
	}
	var a Admission
	err := retryBusy(ctx, req.LockKey, req.LockWait, newBackoff(s.cfg.RetryMin, s.cfg.RetryMax), func(ctx context.Context) (bool, time.Duration, error) {
		start := time.Now()
		if b == nil {
			b = newCallBuf(admitScript)
		}
		b.call.keys, b.call.args = keys, args
		call, calls := &b.call, b.calls[:1]
		b = nil
		err := s.batch.do(ctx, calls, func() {
			// Admitted for a caller that has gone: let the marker and the
			// lock go at once rather than block the key until their TTL.
			if reply, err := call.cmd.Slice(); err == nil {
				if code, fence, err := parseAdmit(reply); err == nil && (code == 1 || code == 2) {
					rkeys, rargs := []string{keys[0]}, []any{marker}
					if req.LockKey != "" {
						rkeys, rargs = append(rkeys, keys[1]), append(rargs, token, fence)
					}
					s.releaseOrphan(releaseScript, rkeys, rargs)
				}
			}
		})
		if err != nil {
			return false, 0, storeErr("admit", req.DedupeKey, err)
		}
		reply, err := call.cmd.Slice()
		if err != nil {
			return false, 0, storeErr("admit", req.DedupeKey, err)
		}
		code, val, err := parseAdmit(reply)
		if err != nil {
			return false, 0, storeErr("admit", req.DedupeKey, err)
		}
		switch code {
		case 1, 2:
			a.Verdict = Admitted
			if code == 2 {
				a.Verdict = TakenOver
			}
			a.Marker = newLease(s, true, req.DedupeKey, marker, 0, req.MarkerTTL, start)
			a.Marker.tokenArg = args[0] // the marker, boxed for this script already
			a.Marker.rkey = keys[0]
			a.Marker.bucket, a.Marker.fieldArg = bucket, fieldArg
			if req.LockKey != "" {
				a.Lock = newLease(s, false, req.LockKey, token, val.(int64), req.LockTTL, start)
				a.Lock.fenceArg = val // the fence, boxed by the reply
				a.Lock.rkey = keys[1]
			}
		case 3:
			a.Verdict, a.Holder = InFlightElsewhere, val.(string)
			if len(reply) == 3 {
				if ms, ok := reply[2].(int64); ok && ms > 0 {
					a.HolderTTL = time.Duration(ms) * time.Millisecond
				}
			}
		case 4:
			a.Verdict, a.Result = Done, []byte(val.(string))
		case 5:
			return false, time.Duration(val.(int64)) * time.Millisecond, nil
		}
		return true, 0, nil
	})
	if err != nil {
		return Admission{}, err
	}
	return a, nil
}

// sameAdmission reports whether lock l was taken by the admission that set
// marker m: its owner token is the marker's first part, which the
// completion script then reads from the marker instead of a second
// argument.
func sameAdmission(m, l *Lease) bool {
	return len(m.token) > len(l.token) && m.token[len(l.token)] == ':' && m.token[:len(l.token)] == l.token
}

// parseAdmit checks the {code, value[, pttl]} reply of admit.lua.
func parseAdmit(reply []any) (int64, any, error) {
	if len(reply) == 2 || len(reply) == 3 {
		if code, ok := reply[0].(int64); ok {
			switch reply[1].(type) {
			case int64:
				if code == 1 || code == 2 || code == 5 {
					return code, reply[1], nil
				}
			case string:
				if code == 3 || code == 4 {
					return code, reply[1], nil
				}
			}
		}
	}
	return 0, nil, fmt.Errorf("unexpected admit reply %v", reply)
}

// Complete implements Store: complete.lua, with the lock release in the same
// script when the lock shares the marker's slot, else in the same pipeline.
func (s *RedisStore) Complete(ctx context.Context, req CompleteRequest) (Completion, error) {
	if err := req.checkCheckpoint(); err != nil {
		return Completion{}, err
	}
	if req.Marker == nil {
		if req.Checkpoint != nil {
			return s.completeLocked(ctx, req.Lock, *req.Checkpoint)
		}
		return s.Abandon(ctx, nil, req.Lock)
	}
	if !req.Marker.marker || (req.Lock != nil && req.Lock.marker) {
		return Completion{}, fmt.Errorf("lockstore: complete: CompleteRequest.Marker must be a marker and Lock a lock")
	}
	window := cmp.Or(req.Window, WindowDefault)
	m := req.Marker
	b := newCallBuf(completeScript)
	complete, calls := &b.call, b.calls[:1]
	complete.keys = append(complete.keys, s.keys.lease(m))
	var result any = ""
	if req.Result != nil {
		result = req.Result
	}
	var lockToken, lockFence any = "", ""
	var release *scriptCall
	if l := req.Lock; l != nil {
		if s.sameSlot(m.key, l.key) {
			complete.keys = append(complete.keys, s.keys.lease(l))
			lockFence = l.fenceArgument()
			if !sameAdmission(m, l) {
				lockToken = l.arg()
			}
		} else {
			release = &scriptCall{script: unlockScript, keys: []string{s.keys.lease(l)}, args: []any{l.token, l.fenceArgument()}}
			calls = append(calls, release)
		}
	}
	complete.args = append(complete.args, m.arg(), result, s.ms.arg(window), lockToken, s.ms.arg(max(m.ttl, time.Millisecond)), lockFence)
	var cp any = ""
	if c := req.Checkpoint; c != nil {
		complete.keys = append(complete.keys, s.keys.checkpoint(*c))
		cp = "1"
	}
	if len(req.Result) == 0 && m.bucket != "" {
		// The record goes to its bucket, its expiry from the estimate of
		// the server's clock; without one the script reads TIME.
		b.clock, b.sent = &s.clock, time.Now()
		var exp, name, value any = "", "", ""
		if now, ok := s.clock.now(b.sent); ok {
			w := window.Milliseconds()
			sn := s.sentinels.get(w, now)
			exp, name, value = now+w, sn.name, sn.value
		}
		complete.keys = append(complete.keys, m.bucket)
		complete.args = append(complete.args, cp, m.fieldArg, exp, name, value)
	} else if cp != "" {
		complete.args = append(complete.args, cp)
	}
	// The replies are read on this goroutine once the batch delivered them,
	// or on the batch's when the caller gave up first: a caller that gives
	// up still gets its leases' state right.
	b.release, b.req = release, req
	if err := s.batch.do(ctx, calls, b.complete); err != nil {
		return Completion{}, storeErr("complete", m.key, err)
	}
	b.complete()
	return b.completion, b.err
}

// complete reads the replies of b, a completion's call, into b.completion
// and b.err.
func (b *callBuf) complete() {
	b.completion, b.err = completed(&b.call, b.release, b.req)
	if b.clock != nil && b.err == nil {
		// {marker, lock, now}: the script read TIME for want of an estimate.
		if vals, _ := b.call.cmd.Slice(); len(vals) == 3 {
			if ms, ok := vals[2].(int64); ok {
				b.clock.set(ms, b.sent)
			}
		}
	}
}

// completed reads the replies of a completion's calls (release is nil
// when the lock was released by the complete script) and updates the
// leases.
func completed(complete, release *scriptCall, req CompleteRequest) (Completion, error) {
	m := req.Marker
	var c Completion
	v, err := twoInts(complete.cmd)
	if err != nil {
		return c, storeErr("complete", m.key, err)
	}
	c.Marker = releaseResult(v[0])
	m.finished(c.Marker)
	if req.Lock != nil && release == nil {
		c.Lock = req.Lock.lockResult(v[1])
	}
	if release != nil {
		v, err := release.cmd.Int64Slice()
		if err != nil || len(v) != 1 {
			return c, storeErr("complete", req.Lock.key, cmpErr(err, fmt.Errorf("unexpected reply %v", v)))
		}
		c.Lock = req.Lock.lockResult(v[0])
	}
	if req.Lock != nil {
		req.Lock.finished(c.Lock)
	}
	return c, nil
}

// completeLocked completes work done under lock alone and drops its
// checkpoint c: release.lua with c's key, so that the checkpoint goes only
// with the lock, in one script.
func (s *RedisStore) completeLocked(ctx context.Context, lock *Lease, c Checkpoint) (Completion, error) {
	release := &scriptCall{script: unlockScript, keys: []string{s.keys.lease(lock), s.keys.checkpoint(c)}, args: []any{lock.token, lock.fenceArgument()}}
	finish := func() (Completion, error) {
		v, err := release.cmd.Int64Slice()
		if err != nil || len(v) != 1 {
			return Completion{}, storeErr("complete", lock.key, cmpErr(err, fmt.Errorf("unexpected reply %v", v)))
		}
		res := Completion{Lock: lock.lockResult(v[0])}
		lock.finished(res.Lock)
		return res, nil
	}
	if err := s.batch.do(ctx, []*scriptCall{release}, func() { _, _ = finish() }); err != nil {
		return Completion{}, storeErr("complete", lock.key, err)
	}
	return finish()
}

// Abandon implements Store: one release.lua call for both leases when they
// share a slot, else two in one pipeline.
func (s *RedisStore) Abandon(ctx context.Context, marker, lock *Lease) (Completion, error) {
	var leases []*Lease
	for _, l := range []*Lease{marker, lock} {
		if l != nil {
			leases = append(leases, l)
		}
	}
	if len(leases) == 0 {
		return Completion{}, nil
	}
	if (marker != nil && !marker.marker) || (lock != nil && lock.marker) {
		return Completion{}, fmt.Errorf("lockstore: abandon: marker must be a marker lease and lock a lock lease")
	}
	var calls []*scriptCall
	if len(leases) == 2 && s.sameSlot(marker.key, lock.key) {
		calls = []*scriptCall{{
			script: releaseScript,
			keys:   []string{s.keys.lease(marker), s.keys.lease(lock)},
			args:   []any{marker.arg(), lock.arg(), lock.fenceArgument()},
		}}
	} else {
		for _, l := range leases {
			if l.marker {
				calls = append(calls, &scriptCall{script: releaseScript, keys: []string{s.keys.lease(l)}, args: []any{l.token}})
			} else {
				calls = append(calls, &scriptCall{script: unlockScript, keys: []string{s.keys.lease(l)}, args: []any{l.arg(), l.fenceArgument()}})
			}
		}
	}
	finish := func() (Completion, error) {
		var results []ReleaseResult
		for _, c := range calls {
			v, err := c.cmd.Int64Slice()
			if err != nil {
				return Completion{}, storeErr("release", leases[0].key, err)
			}
			for _, n := range v {
				if len(results) == len(leases) {
					return Completion{}, storeErr("release", leases[0].key, fmt.Errorf("unexpected reply %v", v))
				}
				results = append(results, leases[len(results)].lockResult(n))
			}
		}
		if len(results) != len(leases) {
			return Completion{}, storeErr("release", leases[0].key, fmt.Errorf("%d replies for %d leases", len(results), len(leases)))
		}
		var c Completion
		for i, l := range leases {
			l.finished(results[i])
			if l.marker {
				c.Marker = results[i]
			} else {
				c.Lock = results[i]
			}
		}
		return c, nil
	}
	// A caller that gives up still gets its leases' state right.
	if err := s.batch.do(ctx, calls, func() { _, _ = finish() }); err != nil {
		return Completion{}, storeErr("release", leases[0].key, err)
	}
	return finish()
}

// twoInts reads a script's reply of two integers ({marker, lock}) without
// the slice Int64Slice allocates.
func twoInts(cmd *redis.Cmd) ([2]int64, error) {
	vals, err := cmd.Slice()
	if err != nil {
		return [2]int64{}, err
	}
	var v [2]int64
	for i := range v {
		n, ok := int64(0), i < len(vals)
		if ok {
			n, ok = vals[i].(int64)
		}
		if !ok {
			return v, fmt.Errorf("lockstore: unexpected reply %v", vals)
		}
		v[i] = n
	}
	return v, nil
}
