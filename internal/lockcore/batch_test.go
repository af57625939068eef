package lockcore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// gate is a go-redis hook that, while closed, holds every pipeline until
// the test lets it go, and records the size of each pipeline.
type gate struct {
	closed  atomic.Bool
	entered chan chan struct{} // one per held pipeline: close it to let go
	mu      sync.Mutex
	sizes   []int
}

func newGate() *gate { return &gate{entered: make(chan chan struct{}, 16)} }

func (g *gate) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		g.mu.Lock()
		g.sizes = append(g.sizes, len(cmds))
		g.mu.Unlock()
		if g.closed.Load() {
			release := make(chan struct{})
			g.entered <- release
			<-release
		}
		return next(ctx, cmds)
	}
}

// held waits for the next held pipeline.
func (g *gate) held(t *testing.T) chan struct{} {
	t.Helper()
	select {
	case r := <-g.entered:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no pipeline reached the gate")
		return nil
	}
}

// open lets every pipeline through from now on, the held ones included.
func (g *gate) open(held []chan struct{}) {
	g.closed.Store(false)
	for _, h := range held {
		close(h)
	}
	for {
		select {
		case r := <-g.entered:
			close(r)
		default:
			return
		}
	}
}

func (g *gate) lastSize() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sizes[len(g.sizes)-1]
}

// setupBatch returns a store whose pipelines pass g, scripts loaded.
func setupBatch(t *testing.T) (*lockcore.RedisStore, *gate) {
	t.Helper()
	c := startRedis(t).Client()
	g := newGate()
	c.AddHook(g)
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{})
	a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "warm", TaskID: "t", LockKey: "warm"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(ctx(t), lockcore.CompleteRequest{Marker: a.Marker, Lock: a.Lock}); err != nil {
		t.Fatal(err)
	}
	return s, g
}

// busy closes g and starts as many admissions as may send their own
// pipelines, all held at g, so that the next calls queue.
func busy(t *testing.T, s *lockcore.RedisStore, g *gate) (held []chan struct{}, errs chan error) {
	t.Helper()
	g.closed.Store(true)
	errs = make(chan error, lockcore.MaxInline)
	for i := range lockcore.MaxInline {
		go func() {
			_, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: fmt.Sprint("first", i), TaskID: "t"})
			errs <- err
		}()
		held = append(held, g.held(t))
	}
	return held, errs
}

func waitQueued(t *testing.T, s *lockcore.RedisStore, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for lockcore.Queued(s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", lockcore.Queued(s), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRedisGroupCommit checks that calls made while a pipeline is in
// flight leave together in the next one, each with its own reply.
func TestRedisGroupCommit(t *testing.T) {
	t.Parallel()
	s, g := setupBatch(t)
	held, first := busy(t, s, g)

	const n = 8
	var wg sync.WaitGroup
	adms := make([]lockcore.Admission, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			adms[i], errs[i] = s.Admit(ctx(t), lockcore.AdmitRequest{
				DedupeKey: fmt.Sprint("k", i), TaskID: fmt.Sprint("task", i), LockKey: fmt.Sprint("k", i),
			})
		})
	}
	waitQueued(t, s, n)
	g.open(held)
	wg.Wait()
	for range held {
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	}
	if got := g.lastSize(); got != n {
		t.Errorf("the queued admissions left in a pipeline of %d, want %d", got, n)
	}
	for i := range n {
		if errs[i] != nil || adms[i].Verdict != lockcore.Admitted {
			t.Fatalf("admission %d: %v, %v", i, adms[i].Verdict, errs[i])
		}
		if !strings.HasSuffix(adms[i].Marker.Token(), fmt.Sprint(":task", i)) || adms[i].Lock.Key() != fmt.Sprint("k", i) {
			t.Errorf("admission %d got another's leases: %s %s", i, adms[i].Marker.Token(), adms[i].Lock.Key())
		}
		c, err := s.Complete(ctx(t), lockcore.CompleteRequest{Marker: adms[i].Marker, Lock: adms[i].Lock})
		if err != nil || c.Marker != lockcore.Released || c.Lock != lockcore.Released {
			t.Errorf("complete %d: %+v, %v", i, c, err)
		}
	}
}

// TestRedisGroupCommitCallerGone checks that a caller that gives up does
// not disturb the others, and that an admission granted after it left is
// let go at once rather than blocking its keys until their TTL.
func TestRedisGroupCommitCallerGone(t *testing.T) {
	t.Parallel()
	for _, sent := range []bool{false, true} {
		t.Run(fmt.Sprint("sent=", sent), func(t *testing.T) {
			t.Parallel()
			s, g := setupBatch(t)
			held, _ := busy(t, s, g)

			gone, leave := context.WithCancel(ctx(t))
			goneErr := make(chan error, 1)
			go func() {
				_, err := s.Admit(gone, lockcore.AdmitRequest{DedupeKey: "gone", TaskID: "t1", LockKey: "gone", LockWait: -1})
				goneErr <- err
			}()
			stay := make(chan error, 1)
			go func() {
				a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "stay", TaskID: "t2", LockKey: "stay"})
				if err == nil && a.Verdict != lockcore.Admitted {
					err = fmt.Errorf("outcome %v", a.Verdict)
				}
				stay <- err
			}()
			waitQueued(t, s, 2)
			if sent {
				// Both are in flight when the caller leaves.
				for _, h := range held {
					close(h)
				}
				held = []chan struct{}{g.held(t)}
			}
			leave()
			if err := <-goneErr; !errors.Is(err, context.Canceled) {
				t.Errorf("the caller that left got %v, want context.Canceled", err)
			}
			g.open(held)
			if err := <-stay; err != nil {
				t.Fatalf("the caller that stayed: %v", err)
			}
			// Whether or not it ran, the admission of the caller that left
			// must not hold its keys.
			deadline := time.Now().Add(5 * time.Second)
			for {
				a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "gone", TaskID: "t3", LockKey: "gone", LockWait: -1})
				if err == nil && a.Verdict == lockcore.Admitted {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the keys of the caller that left are still held: %v, %v", a.Verdict, err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// TestRedisGroupCommitCluster runs concurrent admissions and completions
// over many slots through a ClusterClient, whose pipelines are split per
// node.
func TestRedisGroupCommitCluster(t *testing.T) {
	t.Parallel()
	s := lockcore.NewRedisStore(startCluster(t), lockcore.RedisConfig{})
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			k := fmt.Sprint("job:", i)
			// Different texts: two slots, two steps.
			a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: k, TaskID: k, LockKey: "lock:" + k})
			if err != nil || a.Verdict != lockcore.Admitted || !strings.HasSuffix(a.Marker.Token(), ":"+k) {
				t.Errorf("admit %s: %v %v", k, a.Verdict, err)
				return
			}
			c, err := s.Complete(ctx(t), lockcore.CompleteRequest{Marker: a.Marker, Lock: a.Lock, Result: []byte(k)})
			if err != nil || c.Marker != lockcore.Released || c.Lock != lockcore.Released {
				t.Errorf("complete %s: %+v %v", k, c, err)
			}
			a, err = s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: k, TaskID: "other"})
			if err != nil || a.Verdict != lockcore.Done || string(a.Result) != k {
				t.Errorf("admit %s again: %v %q %v", k, a.Verdict, a.Result, err)
			}
		})
	}
	wg.Wait()
}
