package lockcore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// track tracks leases as the runner does: a context cancelled with the loss
// as its cause.
func track(t *testing.T, r *lockcore.Renewer, leases ...*lockcore.Lease) context.Context {
	c, cancel := context.WithCancelCause(context.Background())
	untrack := r.Track(func(err error) { cancel(err) }, leases...)
	t.Cleanup(func() { untrack(); cancel(nil) })
	return c
}

func startRenewer(t *testing.T, cfg lockcore.RenewerConfig) *lockcore.Renewer {
	r := lockcore.NewRenewer(cfg)
	r.Start()
	t.Cleanup(r.Shutdown)
	return r
}

func TestRedisKeyLayout(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{})
	a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "invoice:123", TaskID: "task-1", LockKey: "invoice:123"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Get(ctx(t), "jobrunner:{invoice:123}:inflight").Val(); got != a.Lock.Token()+":task-1" { // one token per admission
		t.Errorf("marker = %q, want the admission's token and the task ID", got)
	}
	v := c.Get(ctx(t), "jobrunner:{invoice:123}:lock").Val()
	fence, deadline, owner, ok := lockcore.ParseLock(v)
	if now := time.Now().UnixMilli(); !ok || fence != a.Lock.Fence() || owner != a.Lock.Token() || deadline < now+lockcore.LockTTLDefault.Milliseconds()-5000 || deadline > now+lockcore.LockTTLDefault.Milliseconds()+5000 {
		t.Errorf("lock = %q, want L<fence %d>:<deadline, a lock TTL from now>:<owner %s>", v, a.Lock.Fence(), a.Lock.Token())
	}
	if _, err := s.Complete(ctx(t), lockcore.CompleteRequest{Marker: a.Marker, Lock: a.Lock, Result: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	// The record replaces the marker in its key, and the lock key stays,
	// free, with its fence: the completion creates and deletes no key.
	keys, _ := c.Keys(ctx(t), "*").Result()
	slices.Sort(keys)
	if strings.Join(keys, " ") != "jobrunner:{invoice:123}:inflight jobrunner:{invoice:123}:lock" {
		t.Errorf("keys after completion = %v", keys)
	}
	if got, want := c.Get(ctx(t), "jobrunner:{invoice:123}:lock").Val(), strconv.FormatInt(a.Lock.Fence(), 10); got != want {
		t.Errorf("released lock = %q, want %q", got, want)
	}
	if got := c.Get(ctx(t), "jobrunner:{invoice:123}:inflight").Val(); got != "\x01r" {
		t.Errorf("record = %q, want byte 1 then the result", got)
	}
	if ttl := c.PTTL(ctx(t), "jobrunner:{invoice:123}:inflight").Val(); ttl < 23*time.Hour {
		t.Errorf("record TTL = %s, want the 24h window", ttl)
	}
	if ttl := c.PTTL(ctx(t), "jobrunner:{invoice:123}:lock").Val(); ttl < lockcore.FenceTTL-time.Minute || ttl > lockcore.FenceTTL {
		t.Errorf("lock key TTL = %s, want %s", ttl, lockcore.FenceTTL)
	}
}

// TestRedisRecordWithoutResult: with Buckets < 0 a completed record without
// a result is a key holding the value "1", which Redis keeps in a shared
// integer object (no allocation of its own), and a duplicate admitted after
// it is done with an empty result, as with one.
func TestRedisRecordWithoutResult(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{Buckets: -1})
	a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "mail:7", TaskID: "task-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(ctx(t), lockcore.CompleteRequest{Marker: a.Marker}); err != nil {
		t.Fatal(err)
	}
	key := "jobrunner:{mail:7}:inflight"
	if got := c.Get(ctx(t), key).Val(); got != "1" {
		t.Errorf("record = %q, want \"1\"", got)
	}
	if enc := c.ObjectEncoding(ctx(t), key).Val(); enc != "int" {
		t.Errorf("record encoding = %q, want int", enc)
	}
	if ttl := c.PTTL(ctx(t), key).Val(); ttl < 23*time.Hour {
		t.Errorf("record TTL = %s, want the 24h window", ttl)
	}
	for _, task := range []string{"task-2", "task-1"} { // a duplicate, and a redelivery
		d, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "mail:7", TaskID: task})
		if err != nil {
			t.Fatal(err)
		}
		if d.Verdict != lockcore.Done || len(d.Result) != 0 {
			t.Errorf("admission of %s after completion = %v with result %q, want Done with none", task, d.Verdict, d.Result)
		}
	}
	// A completion over a record without a result keeps it.
	if _, err := s.Complete(ctx(t), lockcore.CompleteRequest{Marker: a.Marker, Result: []byte("late")}); err != nil {
		t.Fatal(err)
	}
	if got := c.Get(ctx(t), key).Val(); got != "1" {
		t.Errorf("record after a late completion = %q, want \"1\" kept", got)
	}
}

// TestRedisRecordInBucket: by default a completed record without a result
// is a field of a small hash (its bucket) holding its expiry in server
// milliseconds, not a key: the marker's key goes, the bucket stays a
// listpack with a TTL past the record's, and duplicates and redeliveries
// are done for the whole window.
func TestRedisRecordInBucket(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{Buckets: 8})
	before := serverMs(t, c)
	complete(t, s, "mail:7", "task-1", 0)
	if n := c.Exists(ctx(t), "jobrunner:{mail:7}:inflight").Val(); n != 0 {
		t.Errorf("the marker's key is still there after completion")
	}
	b := onlyKey(t, c, "jobrunner:r:*")
	exp, err := c.HGet(ctx(t), b, "mail:7").Int64()
	if err != nil {
		t.Fatalf("record in %s: %v", b, err)
	}
	after := serverMs(t, c)
	day := (24 * time.Hour).Milliseconds()
	if exp < before+day || exp > after+day+10 {
		t.Errorf("record expiry = %d, want the server's clock + 24h, in [%d, %d]", exp, before+day, after+day+10)
	}
	if enc := c.ObjectEncoding(ctx(t), b).Val(); enc != "listpack" {
		t.Errorf("bucket encoding = %q, want listpack", enc)
	}
	if at := c.PExpireTime(ctx(t), b).Val(); at.Milliseconds() < exp {
		t.Errorf("bucket expires at %d, before its record (%d)", at.Milliseconds(), exp)
	}
	for _, task := range []string{"task-2", "task-1"} { // a duplicate, and a redelivery
		if v := admitVerdict(t, s, "mail:7", task); v != lockcore.Done {
			t.Errorf("admission of %s after completion = %v, want Done", task, v)
		}
	}
	// Keys named like the bucket's own sentinel field (the window, the
	// quarter) stay apart from it: new until they ran.
	one := lockcore.NewRedisStore(c, lockcore.RedisConfig{Buckets: 1, Prefix: "one"})
	complete(t, one, "first", "t", 0)
	quarter := (6 * time.Hour).Milliseconds()
	long := strings.Repeat("webhook.deliver:", 20) // past a listpack value's 64 bytes
	for _, k := range []string{fmt.Sprintf("~%d:%d", day, serverMs(t, c)/quarter), "~~x", "~", long, long + "2"} {
		if v := admitVerdict(t, one, k, "t"); v != lockcore.Admitted {
			t.Errorf("admission of %q before it ran = %v, want Admitted", k, v)
		}
		complete(t, one, k, "t", 0)
		if v := admitVerdict(t, one, k, "t2"); v != lockcore.Done {
			t.Errorf("admission of %q after completion = %v, want Done", k, v)
		}
		if ok, err := one.Recorded(ctx(t), k); !ok || err != nil {
			t.Errorf("Recorded(%q) = %v, %v; want true", k, ok, err)
		}
	}
	if enc := c.ObjectEncoding(ctx(t), "one:r:0").Val(); enc != "listpack" {
		t.Errorf("bucket with records of long keys: encoding %q, want listpack", enc)
	}
	if ok, err := one.Recorded(ctx(t), "never"); ok || err != nil {
		t.Errorf("Recorded(never) = %v, %v; want false", ok, err)
	}
}

// TestRedisBucketKeepsResultRecord: a completion without a result that
// finds a record with one in the marker's key (a duplicate admitted after
// this attempt's marker expired completed first) keeps that record and its
// result, for a window, and writes nothing to the bucket.
func TestRedisBucketKeepsResultRecord(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{Buckets: 1})
	first, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "pay:9", TaskID: "t1", MarkerTTL: 50 * time.Millisecond})
	if err != nil || first.Verdict != lockcore.Admitted {
		t.Fatalf("Admit = %v, %v", first.Verdict, err)
	}
	time.Sleep(100 * time.Millisecond) // the first attempt's marker expires
	dup, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "pay:9", TaskID: "t2"})
	if err != nil || dup.Verdict != lockcore.Admitted {
		t.Fatalf("Admit of the duplicate = %v, %v", dup.Verdict, err)
	}
	if _, err := s.Complete(ctx(t), lockcore.CompleteRequest{Marker: dup.Marker, Result: []byte("paid")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(ctx(t), lockcore.CompleteRequest{Marker: first.Marker}); err != nil {
		t.Fatal(err)
	}
	key := "jobrunner:{pay:9}:inflight"
	if got := c.Get(ctx(t), key).Val(); got != "\x01paid" {
		t.Errorf("record = %q, want the duplicate's, with its result", got)
	}
	if ttl := c.PTTL(ctx(t), key).Val(); ttl < 23*time.Hour {
		t.Errorf("record TTL = %s, want a window", ttl)
	}
	if n := c.Exists(ctx(t), "jobrunner:r:0").Val(); n != 0 {
		t.Errorf("the late completion wrote a bucket record too")
	}
	a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "pay:9", TaskID: "t3"})
	if err != nil || a.Verdict != lockcore.Done || string(a.Result) != "paid" {
		t.Errorf("Admit after both = %v %q, %v; want Done with paid", a.Verdict, a.Result, err)
	}
}

// TestRedisBucketBracePrefix: on a Cluster, a prefix with a brace keeps a
// key per record (no bucket can share a marker's slot), and jobs still
// complete and are skipped after.
func TestRedisBucketBracePrefix(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	for _, prefix := range []string{"a{", "b}", "{c}"} {
		s := lockcore.NewRedisStore(c, lockcore.RedisConfig{Prefix: prefix})
		complete(t, s, "mail:1", "t", 0)
		if v := admitVerdict(t, s, "mail:1", "t2"); v != lockcore.Done {
			t.Errorf("prefix %q: admission after completion = %v, want Done", prefix, v)
		}
		if got := c.Get(ctx(t), prefix+":{mail:1}:inflight").Val(); got != "1" {
			t.Errorf("prefix %q: record = %q, want a key holding 1", prefix, got)
		}
	}
}

// TestRedisBucketExpiry: a record counts as gone once its window passed
// (checked on read), and the first completion of a later quarter of the
// window trims the bucket's expired fields.
func TestRedisBucketExpiry(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{Buckets: 1})
	window := 400 * time.Millisecond
	for i := range 20 {
		complete(t, s, fmt.Sprintf("k%d", i), "t", window)
	}
	if v := admitVerdict(t, s, "k0", "t2"); v != lockcore.Done {
		t.Fatalf("admission within the window = %v, want Done", v)
	}
	time.Sleep(window + 50*time.Millisecond)
	if v := admitVerdict(t, s, "k1", "t2"); v != lockcore.Admitted {
		t.Fatalf("admission after the window = %v, want Admitted", v)
	}
	complete(t, s, "k-new", "t", window) // a new quarter: trims
	fields := c.HKeys(ctx(t), "jobrunner:r:0").Val()
	var records []string
	for _, f := range fields {
		if !strings.HasPrefix(f, "~") {
			records = append(records, f)
		}
	}
	slices.Sort(records)
	if want := []string{"k-new"}; !slices.Equal(records, want) {
		t.Errorf("records after the trim = %v, want %v", records, want)
	}
	if len(fields)-len(records) > 2 {
		t.Errorf("sentinel fields after the trim: %v, want at most two", fields)
	}
}

// TestRedisBucketsChanged: records written with one bucket count are found
// with another when BucketsBefore names the old count, for the window; not
// without it.
func TestRedisBucketsChanged(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	old := lockcore.NewRedisStore(c, lockcore.RedisConfig{Buckets: 7})
	var keys []string
	for i := range 40 {
		k := fmt.Sprintf("order:%d", i)
		keys = append(keys, k)
		complete(t, old, k, "t", 0)
	}
	changed := lockcore.NewRedisStore(c, lockcore.RedisConfig{Buckets: 5, BucketsBefore: 7})
	for _, k := range keys {
		if v := admitVerdict(t, changed, k, "t2"); v != lockcore.Done {
			t.Errorf("admission of %s with BucketsBefore = %v, want Done", k, v)
		}
	}
	forgot := lockcore.NewRedisStore(c, lockcore.RedisConfig{Buckets: 5})
	missed := 0
	for _, k := range keys {
		if admitVerdict(t, forgot, k, "t3") == lockcore.Admitted {
			missed++
		}
	}
	if missed == 0 {
		t.Errorf("without BucketsBefore every record was found: the test shows nothing")
	}
}

// TestRedisBucketClockEstimate: completions to buckets read the server's
// clock (TIME) once, not per job: later ones use the store's estimate.
// (The first record of a quarter in a bucket reads it too, to trim.)
func TestRedisBucketClockEstimate(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{Buckets: 1})
	for i := range 50 {
		complete(t, s, fmt.Sprintf("k%d", i), "t", 0)
	}
	info := c.Info(ctx(t), "commandstats").Val()
	var calls int
	for _, line := range strings.Split(info, "\n") {
		if strings.HasPrefix(line, "cmdstat_time:calls=") {
			calls, _ = strconv.Atoi(strings.TrimPrefix(strings.Split(line, ",")[0], "cmdstat_time:calls="))
		}
	}
	// Twice: for the first record's expiry, and for the trim of the new
	// bucket. A third would mean the store named the quarter's sentinel
	// field otherwise than the script did (a second refresh).
	if calls != 2 {
		t.Errorf("TIME read %d times for 50 completions in one bucket, want twice", calls)
	}
}

// complete admits and completes a job with dedupe key k and no result.
func complete(t *testing.T, s *lockcore.RedisStore, k, task string, window time.Duration) {
	t.Helper()
	a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: k, TaskID: task})
	if err != nil || a.Verdict != lockcore.Admitted {
		t.Fatalf("Admit(%q) = %v, %v", k, a.Verdict, err)
	}
	if c, err := s.Complete(ctx(t), lockcore.CompleteRequest{Marker: a.Marker, Window: window}); err != nil || c.Marker != lockcore.Released {
		t.Fatalf("Complete(%q) = %+v, %v", k, c, err)
	}
}

// admitVerdict admits a job and lets its marker go at once.
func admitVerdict(t *testing.T, s *lockcore.RedisStore, k, task string) lockcore.Verdict {
	t.Helper()
	a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: k, TaskID: task})
	if err != nil {
		t.Fatalf("Admit(%q) = %v", k, err)
	}
	if a.Marker != nil {
		if _, err := s.Abandon(ctx(t), a.Marker, nil); err != nil {
			t.Fatal(err)
		}
	}
	return a.Verdict
}

// serverMs is the server's clock in milliseconds.
func serverMs(t *testing.T, c redis.UniversalClient) int64 {
	t.Helper()
	return c.Time(ctx(t)).Val().UnixMilli()
}

// onlyKey returns the one key matching pattern.
func onlyKey(t *testing.T, c redis.UniversalClient, pattern string) string {
	t.Helper()
	keys := c.Keys(ctx(t), pattern).Val()
	if len(keys) != 1 {
		t.Fatalf("keys %s = %v, want one", pattern, keys)
	}
	return keys[0]
}

func TestRedisLockDeletedMidHold(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{Prefix: "p"})
	r := startRenewer(t, lockcore.RenewerConfig{})
	l, err := s.Acquire(ctx(t), "invoice:7", 300*time.Millisecond, -1)
	if err != nil {
		t.Fatal(err)
	}
	job := track(t, r, l)
	c.Del(ctx(t), "p:{invoice:7}:lock")
	select {
	case <-job.Done():
	case <-time.After(time.Second):
		t.Fatal("job context not cancelled after the lock was deleted")
	}
	var le *lockcore.LostError
	if cause := context.Cause(job); !errors.Is(cause, lockcore.ErrLockLost) || !errors.As(cause, &le) || le.Reason != lockcore.LostGone {
		t.Fatalf("cause = %v, want ErrLockLost (gone)", cause)
	}
	if _, ok := any(lockcore.ErrLockLost).(interface{ Neutral() bool }); !ok {
		t.Error("ErrLockLost is not neutral")
	}
}

func TestRedisKilledWhileHeld(t *testing.T) {
	t.Parallel()
	srv := startRedisWith(t, redistest.Options{AOF: true})
	if srv.Embedded {
		t.Skip("needs redis-server")
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{})
	var renewErrs atomic.Int64
	r := startRenewer(t, lockcore.RenewerConfig{OnError: func(error) { renewErrs.Add(1) }})
	const ttl = 600 * time.Millisecond
	start := time.Now()
	l, err := s.Acquire(ctx(t), "k", ttl, -1)
	if err != nil {
		t.Fatal(err)
	}
	job := track(t, r, l)
	time.Sleep(250 * time.Millisecond) // one renewal succeeds
	srv.Kill()
	select {
	case <-job.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("job context not cancelled with Redis gone")
	}
	// The lease ran out locally: the last renewal was at most 250ms in.
	if lostAfter := time.Since(start); lostAfter >= 250*time.Millisecond+ttl {
		t.Errorf("lost %s after acquiring, want before the TTL ran out", lostAfter)
	}
	var le *lockcore.LostError
	if cause := context.Cause(job); !errors.As(cause, &le) || le.Reason != lockcore.LostExpired || le.Err == nil {
		t.Fatalf("cause = %v, want LostExpired with the renewal error", cause)
	}
	if renewErrs.Load() == 0 {
		t.Error("OnError never called")
	}
	// Fail closed: with Redis down, no lock and a store error, not "busy".
	_, err = s.Acquire(ctx(t), "other", time.Second, time.Second)
	var se *lockcore.StoreError
	if !errors.As(err, &se) || errors.Is(err, lockcore.ErrNotObtained) {
		t.Fatalf("Acquire with Redis down = %v, want *StoreError", err)
	}
	if _, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "d", TaskID: "t"}); !errors.As(err, &se) {
		t.Fatalf("Admit with Redis down = %v, want *StoreError", err)
	}
	// Back with its data (AOF): the fence keeps growing.
	srv.Restart()
	l2, err := s.Acquire(ctx(t), "k", time.Second, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if l2.Fence() <= l.Fence() {
		t.Errorf("fence %d after restart, was %d", l2.Fence(), l.Fence())
	}
}

// TestRedisHolderProcessKilled kills a process holding a lock (SIGKILL: no
// release, no cleanup); the key is blocked only until its TTL.
func TestRedisHolderProcessKilled(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := srv.Client()
	const ttl = 500 * time.Millisecond
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOCKSTORE_HOLDER_ADDR="+srv.Addr, "LOCKSTORE_HOLDER_TTL="+ttl.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("holder: %v", err)
	}
	fence, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "held ")), 10, 64)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	killed := time.Now()

	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{RetryMax: 50 * time.Millisecond})
	l, err := s.Acquire(ctx(t), "shared", time.Second, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(killed); waited > ttl+300*time.Millisecond {
		t.Errorf("waited %s for a dead holder, want at most the %s TTL", waited, ttl)
	}
	if l.Fence() <= fence || fence == 0 {
		t.Errorf("fence %d after the dead holder's %d", l.Fence(), fence)
	}
}

// runHolder is the child process of TestRedisHolderProcessKilled: it takes
// the lock, says so, and waits to be killed.
func runHolder(addr, ttl string) {
	d, _ := time.ParseDuration(ttl)
	c := redis.NewClient(&redis.Options{Addr: addr})
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{})
	l, err := s.Acquire(context.Background(), "shared", d, -1)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("held", l.Fence())
	time.Sleep(time.Minute)
	os.Exit(0)
}

func TestRedisScriptFlush(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{})
	l, err := s.Acquire(ctx(t), "k", time.Second, -1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "d", TaskID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	c.ScriptFlush(ctx(t)) // as after a failover to a fresh replica
	if err := s.Renew(ctx(t), l, a.Marker); err != nil || l.Err() != nil || a.Marker.Err() != nil {
		t.Fatalf("pipelined Renew after SCRIPT FLUSH = %v (%v, %v)", err, l.Err(), a.Marker.Err())
	}
	c.ScriptFlush(ctx(t))
	if cpl, err := s.Complete(ctx(t), lockcore.CompleteRequest{Marker: a.Marker, Lock: l}); err != nil || cpl.Lock != lockcore.Released {
		t.Fatalf("Complete after SCRIPT FLUSH = %+v, %v", cpl, err)
	}
}

// TestRedisCluster runs against a ClusterClient, where a dedupe key and a
// lock key of different slots cannot share a script.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	cc := startCluster(t)
	for _, k := range []string{"jobrunner:{invoice:1}:lock", "jobrunner:{account:9}:fence", "foo", "{}x", "a{b}c{d}"} {
		want, err := cc.ClusterKeySlot(ctx(t), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := lockcore.HashSlot(k); int64(got) != want {
			t.Errorf("HashSlot(%q) = %d, CLUSTER KEYSLOT says %d", k, got, want)
		}
	}
	trips := &tripCounter{}
	cc.AddHook(trips)
	s := lockcore.NewRedisStore(cc, lockcore.RedisConfig{})
	// step admits and completes req twice (the first loads the scripts)
	// and checks the round trips of the second.
	step := func(req lockcore.AdmitRequest, wantIn, wantOut int64) {
		t.Helper()
		for i := range 2 {
			req := req
			same := req.LockKey == req.DedupeKey
			req.DedupeKey = fmt.Sprint(req.DedupeKey, "-", i)
			if same {
				req.LockKey = req.DedupeKey
			}
			before := trips.Trips.Load()
			a, err := s.Admit(ctx(t), req)
			if err != nil || a.Verdict != lockcore.Admitted || a.Lock == nil {
				t.Fatalf("Admit = %+v, %v", a, err)
			}
			in := trips.Trips.Load() - before
			before = trips.Trips.Load()
			c, err := s.Complete(ctx(t), lockcore.CompleteRequest{Marker: a.Marker, Lock: a.Lock, Result: []byte("x")})
			if err != nil || c != (lockcore.Completion{Marker: lockcore.Released, Lock: lockcore.Released}) {
				t.Fatalf("Complete = %+v, %v", c, err)
			}
			out := trips.Trips.Load() - before
			if i == 1 && (in != wantIn || out != wantOut) {
				t.Errorf("%+v: %d round trips in, %d out; want %d, %d", req, in, out, wantIn, wantOut)
			}
			d, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: req.DedupeKey, TaskID: "other", LockKey: req.LockKey})
			if err != nil || d.Verdict != lockcore.Done || string(d.Result) != "x" {
				t.Fatalf("second Admit = %+v, %v", d, err)
			}
		}
	}
	// Same text: one slot, one script each way.
	step(lockcore.AdmitRequest{DedupeKey: "invoice:1", TaskID: "t", LockKey: "invoice:1"}, 1, 1)
	// Different slots: marker then lock on the way in; one pipeline out.
	step(lockcore.AdmitRequest{DedupeKey: "email:1", TaskID: "t", LockKey: "account:9"}, 2, 1)

	// Busy lock in another slot: the marker taken first is given back.
	l, err := s.Acquire(ctx(t), "account:9", 5*time.Second, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "email:2", TaskID: "t", LockKey: "account:9", LockWait: 100 * time.Millisecond})
	if !errors.Is(err, lockcore.ErrNotObtained) {
		t.Fatalf("Admit on a busy lock = %v", err)
	}
	if a, _ := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "email:2", TaskID: "other"}); a.Verdict != lockcore.Admitted {
		t.Fatalf("marker left behind after the lock was not obtained: %v", a.Verdict)
	}
	// Renewal of leases in several slots is still one call.
	a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "email:3", TaskID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx(t), l, a.Marker); err != nil || l.Err() != nil || a.Marker.Err() != nil {
		t.Fatalf("Renew = %v", err)
	}
	if c, err := s.Abandon(ctx(t), a.Marker, l); err != nil || c.Lock != lockcore.Released || c.Marker != lockcore.Released {
		t.Fatalf("Abandon = %+v, %v", c, err)
	}
}

// TestRenewerOnePipeline checks that leases taken together are renewed
// together: one pipeline per tick, not one round trip per lease.
func TestRenewerOnePipeline(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	trips := &tripCounter{}
	c.AddHook(trips)
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{})
	r := startRenewer(t, lockcore.RenewerConfig{})
	const n, ttl = 10, 300 * time.Millisecond
	var leases []*lockcore.Lease
	for i := range n {
		l, err := s.Acquire(ctx(t), fmt.Sprint("k", i), ttl, -1)
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	job := track(t, r, leases...)
	time.Sleep(ttl / 2) // the first renewal loads the script
	p0, c0 := trips.Pipelines.Load(), trips.Piped.Load()
	time.Sleep(time.Second)
	pipes, cmds := trips.Pipelines.Load()-p0, trips.Piped.Load()-c0
	if job.Err() != nil {
		t.Fatalf("lost: %v", context.Cause(job))
	}
	// A renewal every ttl/3 = 100ms: about 10 pipelines of 10 renewals.
	if pipes < 5 || pipes > 14 || cmds != pipes*n {
		t.Errorf("%d pipelines carrying %d renewals in 1s, want ~10 of %d each", pipes, cmds, n)
	}
}

// TestRedisRecordReplacesAnotherMarker: a success that finds another
// task's marker in the state key (a duplicate admitted after our marker
// expired) writes its record there, in one key, for the window.
func TestRedisRecordReplacesAnotherMarker(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{})

	a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "k", TaskID: "t1", MarkerTTL: time.Minute})
	if err != nil || a.Verdict != lockcore.Admitted {
		t.Fatalf("admit: %v, %v", a.Verdict, err)
	}
	// Our marker expired and a duplicate (another task ID) was admitted.
	c.Set(ctx(t), "jobrunner:{k}:inflight", "0123456789abcdef0123456789abcdef:t2", time.Minute)
	done, err := s.Complete(ctx(t), lockcore.CompleteRequest{Marker: a.Marker, Result: []byte("ours"), Window: time.Hour})
	if err != nil || done.Marker != lockcore.NotOwner {
		t.Fatalf("complete = %v, %v; want NotOwner", done.Marker, err)
	}
	if got := c.Get(ctx(t), "jobrunner:{k}:inflight").Val(); got != "\x01ours" {
		t.Errorf("the state key holds %q, want the record", got)
	}
	if ttl := c.PTTL(ctx(t), "jobrunner:{k}:inflight").Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("the record's TTL is %v, want the window", ttl)
	}
	if n := c.DBSize(ctx(t)).Val(); n != 1 {
		t.Errorf("%d keys, want the state key alone", n)
	}
}
