package resilience

import "time"

// window counts successes and failures over a rolling span of time for the
// failure-rate trip rule. The span is divided into buckets of equal width;
// as time passes the oldest bucket is emptied and reused, so the window
// holds the outcomes of the last span, give or take one bucket. It does not
// allocate after newWindow and is not safe for concurrent use: the breaker
// guards it with its mutex.
type window struct {
	width   time.Duration // Span of one bucket.
	buckets []bucket      // Ring of buckets; head is the newest.
	head    int
	headNum int64     // Number of the head bucket, counted in widths from origin.
	origin  time.Time // Start of bucket number 0.

	calls, failures int // Totals over all buckets.
}

// bucket holds the outcomes recorded during one bucket width.
type bucket struct{ calls, failures int }

// newWindow returns an empty window covering span with n buckets, starting at
// now. span must be at least n nanoseconds.
func newWindow(span time.Duration, n int, now time.Time) *window {
	w := &window{width: span / time.Duration(n), buckets: make([]bucket, n)}
	w.reset(now)
	return w
}

// reset empties the window and starts it again at now.
func (w *window) reset(now time.Time) {
	clear(w.buckets)
	w.head, w.headNum, w.origin = 0, 0, now
	w.calls, w.failures = 0, 0
}

// advance moves the head to the bucket containing now, emptying the buckets
// that fell out of the span. A clock that goes backwards leaves the window
// as it is: the outcome lands in the newest bucket.
func (w *window) advance(now time.Time) {
	num := int64(now.Sub(w.origin) / w.width)
	steps := num - w.headNum
	if steps <= 0 {
		return
	}
	w.headNum = num
	if steps >= int64(len(w.buckets)) {
		clear(w.buckets)
		w.calls, w.failures = 0, 0
		return
	}
	for range steps {
		w.head++
		if w.head == len(w.buckets) {
			w.head = 0
		}
		old := &w.buckets[w.head]
		w.calls -= old.calls
		w.failures -= old.failures
		*old = bucket{}
	}
}

// record adds one outcome at now.
func (w *window) record(now time.Time, failed bool) {
	w.advance(now)
	b := &w.buckets[w.head]
	b.calls++
	w.calls++
	if failed {
		b.failures++
		w.failures++
	}
}

// stats returns the outcomes in the span ending at now.
func (w *window) stats(now time.Time) (calls, failures int) {
	w.advance(now)
	return w.calls, w.failures
}

// tripped reports whether the window holds at least minCalls outcomes of
// which at least the share rate failed. It does not advance the window, so
// call it right after record.
func (w *window) tripped(minCalls int, rate float64) bool {
	return w.calls >= minCalls && float64(w.failures) >= rate*float64(w.calls)
}
