package resilience

import (
	"testing"
	"time"
)

func TestWindowRollsOffOldBuckets(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := newWindow(10*time.Second, 10, start)

	// One failure per second for ten seconds fills every bucket once.
	for i := range 10 {
		w.record(start.Add(time.Duration(i)*time.Second), true)
	}
	if c, f := w.stats(start.Add(9 * time.Second)); c != 10 || f != 10 {
		t.Fatalf("stats = %d/%d, want 10/10", c, f)
	}
	// Each further second drops the oldest bucket.
	if c, _ := w.stats(start.Add(10 * time.Second)); c != 9 {
		t.Fatalf("calls after 10s = %d, want 9", c)
	}
	if c, _ := w.stats(start.Add(15*time.Second + 500*time.Millisecond)); c != 4 {
		t.Fatalf("calls after 15.5s = %d, want 4", c)
	}
	w.record(start.Add(16*time.Second), false)
	if c, f := w.stats(start.Add(16 * time.Second)); c != 4 || f != 3 {
		t.Fatalf("stats after 16s = %d/%d, want 4/3", c, f)
	}
	// A gap longer than the span empties the window.
	if c, f := w.stats(start.Add(time.Hour)); c != 0 || f != 0 {
		t.Fatalf("stats after an hour = %d/%d, want 0/0", c, f)
	}
	// A clock going backwards records into the newest bucket.
	w.record(start, true)
	if c, f := w.stats(start.Add(time.Hour)); c != 1 || f != 1 {
		t.Fatalf("stats after backwards record = %d/%d, want 1/1", c, f)
	}
}

func TestWindowTripped(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		calls, failures, minCalls int
		rate                      float64
		want                      bool
	}{
		{9, 9, 10, 0.5, false},
		{10, 5, 10, 0.5, true},
		{10, 4, 10, 0.5, false},
		{100, 100, 100, 1, true},
		{100, 99, 100, 1, false},
	}
	for _, tt := range tests {
		w := newWindow(time.Minute, 10, now)
		for i := range tt.calls {
			w.record(now, i < tt.failures)
		}
		if got := w.tripped(tt.minCalls, tt.rate); got != tt.want {
			t.Errorf("%d/%d min %d rate %v: tripped = %v, want %v", tt.failures, tt.calls, tt.minCalls, tt.rate, got, tt.want)
		}
	}
}
