package job_test

import (
	"math"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/job"
)

// TestRetryLongSpansWeeks checks the documented range of the default
// schedule: 25 retries take 20.4 to 20.5 days in all, the first retry
// comes after 15 to 45 seconds, and the mean matches the formula.
func TestRetryLongSpansWeeks(t *testing.T) {
	const samples = 2000
	lo, hi := time.Duration(20.4*24*float64(time.Hour)), time.Duration(20.53*24*float64(time.Hour))
	var sum float64
	for range samples {
		var total time.Duration
		for n := range 25 {
			d := job.RetryLong(n, nil)
			floor := time.Duration(15+n*n*n*n) * time.Second
			if d < floor || d > floor+time.Duration(30*(n+1))*time.Second {
				t.Fatalf("retry %d waits %v, outside [%v, %v]", n+1, d, floor, floor+time.Duration(30*(n+1))*time.Second)
			}
			total += d
		}
		if total < lo || total > hi {
			t.Fatalf("25 retries took %v, want %v to %v", total, lo, hi)
		}
		sum += total.Seconds()
	}
	// Expected: sum of 15 + n⁴ + 15(n+1) over n = 0..24.
	want := 375.0 + 1763020 + 15*325
	if mean := sum / samples; math.Abs(mean-want)/want > 0.001 {
		t.Fatalf("mean total %.0fs, want %.0fs", mean, want)
	}
}

// TestRetryShortIsCappedFullJitter checks the short schedule: retry n+1
// waits a uniform 0 to min(60s, 2^n s).
func TestRetryShortIsCappedFullJitter(t *testing.T) {
	const samples = 4000
	for _, n := range []int{0, 1, 3, 5, 6, 24, 1000} {
		ceil := time.Minute
		if n < 6 {
			ceil = time.Duration(1<<n) * time.Second
		}
		var sum time.Duration
		for range samples {
			d := job.RetryShort(n, nil)
			if d < 0 || d > ceil {
				t.Fatalf("retry %d waits %v, outside [0, %v]", n+1, d, ceil)
			}
			sum += d
		}
		if mean := sum / samples; mean < ceil*45/100 || mean > ceil*55/100 {
			t.Fatalf("retry %d: mean wait %v, want about %v", n+1, mean, ceil/2)
		}
	}
}
