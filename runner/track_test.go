package runner

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/job"
)

func TestTrackerRefusesOnceDrainStarts(t *testing.T) {
	t.Parallel()
	tr := newTracker()
	select {
	case <-tr.wait():
	default:
		t.Fatal("wait on an idle tracker did not fire")
	}
	var cancelled []error
	cancel := func(err error) { cancelled = append(cancelled, err) }
	a, ok := tr.begin(&Attempt{TaskID: "a", Queue: "default"}, cancel)
	if !ok {
		t.Fatal("begin refused before a drain")
	}
	b, _ := tr.begin(&Attempt{TaskID: "b", Queue: "default"}, cancel)
	c, _ := tr.begin(&Attempt{TaskID: "c", Queue: "default"}, cancel)
	idle := tr.wait()

	if got := tr.startDrain(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("startDrain = %v, want [a b c]", got)
	}
	if _, ok := tr.begin(&Attempt{TaskID: "d", Queue: "default"}, cancel); ok {
		t.Fatal("begin admitted an attempt after the drain started")
	}
	tr.end(a, false)
	tr.end(b, true)
	tr.end(b, true) // a second end is ignored
	tr.cancelAll(job.ErrShutdown)
	if len(cancelled) != 1 || !errors.Is(cancelled[0], job.ErrShutdown) {
		t.Fatalf("cancelAll cancelled %v, want one job.ErrShutdown", cancelled)
	}
	select {
	case <-idle:
		t.Fatal("idle fired with an attempt in flight")
	default:
	}
	stats, abandoned := tr.endDrain()
	want := drainStats{inFlight: 3, finished: 1, requeued: 1, refused: 1}
	if stats != want || len(abandoned) != 1 || abandoned[0] != c {
		t.Fatalf("endDrain = %+v, %v; want %+v, [c]", stats, abandoned, want)
	}
	tr.end(c, false) // the abandoned handler returns late: not counted
	if s, _ := tr.endDrain(); s != want {
		t.Fatalf("a late end changed the counts: %+v", s)
	}
	select {
	case <-idle:
	default:
		t.Fatal("idle did not fire once the last attempt ended")
	}
}

// TestTrackerBeginRacesDrain checks that an attempt is either refused or
// seen by the drain, never neither, whatever the interleaving.
func TestTrackerBeginRacesDrain(t *testing.T) {
	t.Parallel()
	for range 200 {
		tr := newTracker()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var admitted []string
		for i := range 8 {
			wg.Go(func() {
				id := string(rune('a' + i))
				if _, ok := tr.begin(&Attempt{TaskID: id, Queue: "q"}, func(error) {}); ok {
					mu.Lock()
					admitted = append(admitted, id)
					mu.Unlock()
				}
			})
		}
		seen := tr.startDrain()
		wg.Wait()
		slices.Sort(admitted)
		if !slices.Equal(seen, admitted) {
			t.Fatalf("drain saw %v but %v were admitted", seen, admitted)
		}
	}
}

func TestDrainingOutsideAJob(t *testing.T) {
	t.Parallel()
	if c := job.Draining(context.Background()); c != nil {
		t.Fatalf("Draining outside a job = %v, want nil", c)
	}
}

func TestDrainErrorMessage(t *testing.T) {
	t.Parallel()
	err := error(&DrainError{Abandoned: []string{"t1"}, AsynqErrors: []string{"redis down"}})
	for _, want := range []string{"1 handler(s) ignored cancellation", "t1", "asynq reported 1 error(s)", "redis down"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err.Error(), want)
		}
	}
	var de *DrainError
	if !errors.As(err, &de) {
		t.Fatal("errors.As failed")
	}
}

// TestTrackDefersJobsFetchedWhileDraining covers a Dequeue that was in
// progress when asynq's Stop closed its quit channel: the job reaches the
// chain after the drain began and must not run.
func TestTrackDefersJobsFetchedWhileDraining(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true}) // never dialled
	t.Cleanup(func() { _ = rdb.Close() })
	r, err := New(Config{Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	h := r.track(func(ctx context.Context, a *Attempt) error {
		ran++
		if job.Draining(ctx) == nil {
			t.Error("a tracked job has no Draining channel")
		}
		return nil
	})
	a := &Attempt{TaskID: "t1", Queue: "default", runner: r}
	if err := h(context.Background(), a); err != nil || ran != 1 {
		t.Fatalf("before the drain: err %v, ran %d", err, ran)
	}
	r.tracker.startDrain()
	err = h(context.Background(), a)
	var d *deferral
	if !errors.As(err, &d) || d.Reason != reasonShutdown || d.After != 0 {
		t.Fatalf("while draining: %v, want a shutdown deferral due now", err)
	}
	if ran != 1 {
		t.Fatal("a job fetched while draining ran")
	}
	if isFailure(err) {
		t.Fatal("the deferral counts as a failure: it would use up an attempt")
	}
	if s, _ := r.tracker.endDrain(); s.refused != 1 {
		t.Fatalf("refused = %d, want 1", s.refused)
	}
}
