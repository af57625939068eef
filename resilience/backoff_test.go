package resilience_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/resilience"
)

func TestBackoffDelayAlwaysWithinBounds(t *testing.T) {
	t.Parallel()
	// Adversarial random sources included: the delay must be clamped after
	// jittering whatever Rand returns.
	rands := map[string]func() float64{
		"default":  nil,
		"zero":     func() float64 { return 0 },
		"near one": func() float64 { return math.Nextafter(1, 0) },
		"one":      func() float64 { return 1 },
		"above":    func() float64 { return 1.5 },
		"negative": func() float64 { return -0.5 },
		"nan":      math.NaN,
		"inf":      func() float64 { return math.Inf(1) },
	}
	backoffs := []resilience.Backoff{
		{},
		{Base: time.Millisecond, Max: 10 * time.Second, Multiplier: 3},
		{Base: time.Hour, Max: 24 * time.Hour},
		{Base: time.Second, Max: math.MaxInt64, Multiplier: 10},
		{Base: 1, Max: 1, Multiplier: 1},
		{Max: 30 * time.Second, NoJitter: true},
	}
	for name, r := range rands {
		for _, bo := range backoffs {
			bo.Rand = r
			hi := bo.Max
			if hi == 0 {
				hi = resilience.MaxDelayDefault
			}
			for n := -1; n <= 200; n++ {
				for range 5 {
					if d := bo.Delay(n); d < 0 || d > hi {
						t.Fatalf("rand %s, %+v: Delay(%d) = %s, want in [0, %s]", name, bo, n, d, hi)
					}
				}
			}
			if d := bo.Delay(math.MaxInt); d < 0 || d > hi {
				t.Fatalf("rand %s: Delay(MaxInt) = %s", name, d)
			}
		}
	}
}

func TestBackoffDelayWithoutJitter(t *testing.T) {
	t.Parallel()
	bo := resilience.Backoff{NoJitter: true}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for n, w := range want {
		if got := bo.Delay(n); got != w*time.Second {
			t.Errorf("Delay(%d) = %s, want %s", n, got, w*time.Second)
		}
	}
	if got := bo.Delay(-3); got != time.Second {
		t.Errorf("Delay(-3) = %s, want the first delay", got)
	}
	// An invalid Backoff still yields a delay within [0, max(Max, 0)].
	if got := (resilience.Backoff{Max: -time.Second}).Delay(3); got != 0 {
		t.Errorf("Delay with a negative Max = %s, want 0", got)
	}
	if got := (resilience.Backoff{Base: -time.Second, NoJitter: true}).Delay(3); got != 0 {
		t.Errorf("Delay with a negative Base = %s, want 0", got)
	}
	if got := (resilience.Backoff{Multiplier: 1.5, NoJitter: true}).Delay(2); got != 2250*time.Millisecond {
		t.Errorf("Delay(2) with multiplier 1.5 = %s, want 2.25s", got)
	}
	if got := (resilience.Backoff{Multiplier: 1.01, NoJitter: true, Max: time.Hour}).Delay(1000); got != time.Hour {
		t.Errorf("Delay(1000) with multiplier 1.01 = %s, want the 1h cap", got)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	t.Parallel()
	r := 0.25
	bo := resilience.Backoff{Rand: func() float64 { return r }}
	if got := bo.Delay(2); got != time.Second {
		t.Errorf("Delay(2) with rand 0.25 = %s, want 1s (a quarter of 4s)", got)
	}
	// Capped before and clamped after jittering: a quarter of 60s.
	if got := bo.Delay(50); got != 15*time.Second {
		t.Errorf("Delay(50) with rand 0.25 = %s, want 15s", got)
	}
	// With the default source, delays spread over the whole range.
	bo = resilience.Backoff{}
	var lo, hi time.Duration = time.Hour, 0
	for range 2000 {
		d := bo.Delay(0)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > 100*time.Millisecond || hi < 900*time.Millisecond {
		t.Errorf("2000 delays of retry 0 span [%s, %s], want about [0, 1s)", lo, hi)
	}
}

func TestBackoffDelayDoesNotAllocate(t *testing.T) {
	bo := resilience.Backoff{}
	n := 0
	if allocs := testing.AllocsPerRun(1000, func() { _ = bo.Delay(n % 100); n++ }); allocs != 0 {
		t.Fatalf("Delay allocates %v times per call", allocs)
	}
}

func TestBackoffValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		bo    resilience.Backoff
		field string
	}{
		{resilience.Backoff{Base: -1}, "Base"},
		{resilience.Backoff{Base: time.Minute, Max: time.Second}, "Max"},
		{resilience.Backoff{Multiplier: 0.5}, "Multiplier"},
		{resilience.Backoff{Multiplier: math.Inf(1)}, "Multiplier"},
		{resilience.Backoff{Multiplier: math.NaN()}, "Multiplier"},
	}
	for _, tt := range tests {
		if err := tt.bo.Validate(); err == nil || !strings.Contains(err.Error(), "Backoff."+tt.field) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tt.bo, err, tt.field)
		}
	}
	if err := (resilience.Backoff{}).Validate(); err != nil {
		t.Errorf("zero Backoff: Validate() = %v", err)
	}
}
