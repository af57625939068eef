package runner

import (
	"context"
	"errors"
	"testing"
	"time"
)

type detachKey struct{}

// A settling write's context keeps the job's values, outlives the job's
// cancellation, ends at its timeout, and ends at once when the drain cuts
// the tail; a context made after the cut is not cut with it.
func TestDetached(t *testing.T) {
	r := &Runner{}
	r.tail.init()
	job, cancelJob := context.WithCancel(context.WithValue(context.Background(), detachKey{}, "span"))

	ctx, cancel := r.detached(job, time.Minute)
	defer cancel()
	cancelJob()
	if ctx.Value(detachKey{}) != "span" {
		t.Fatal("the job's values are lost")
	}
	if ctx.Err() != nil {
		t.Fatalf("cancelled with the job: %v", ctx.Err())
	}
	if d, ok := ctx.Deadline(); !ok || time.Until(d) < 59*time.Second {
		t.Fatalf("deadline %v, %v", d, ok)
	}

	short, cancelShort := r.detached(job, 20*time.Millisecond)
	defer cancelShort()
	<-short.Done()
	if !errors.Is(short.Err(), context.DeadlineExceeded) {
		t.Fatalf("after its timeout: %v", short.Err())
	}

	r.tail.cut()
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("not ended by the cut")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("after the cut: %v", ctx.Err())
	}
	later, cancelLater := r.detached(job, time.Minute)
	defer cancelLater()
	if later.Err() != nil {
		t.Fatalf("a context made after the cut: %v", later.Err())
	}
}

func BenchmarkDetached(b *testing.B) {
	r := &Runner{}
	r.tail.init()
	job := context.WithValue(context.Background(), detachKey{}, "span")
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := r.detached(job, time.Second)
		_ = ctx.Done()
		cancel()
	}
}
