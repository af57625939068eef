//go:build cenkalti

// This file compares Backoff with github.com/cenkalti/backoff/v5. It is
// behind the "cenkalti" build tag so that the package's tests never depend on
// that module:
//
//	go test -tags cenkalti -run Cenkalti -bench BackoffDelay -benchmem ./resilience/

package resilience_test

import (
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/jobrunner/jobrunner/resilience"
)

func BenchmarkBackoffDelayCenkalti(b *testing.B) {
	b.ReportAllocs()
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     time.Second,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          2,
		MaxInterval:         60 * time.Second,
	}
	bo.Reset()
	i := 0
	for b.Loop() {
		if i&15 == 0 {
			bo.Reset()
		}
		_ = bo.NextBackOff()
		i++
	}
}

// TestCenkaltiJitterExceedsItsCap documents why Backoff clamps after
// jittering: cenkalti caps the interval before randomising it, so a 60s cap
// yields delays up to 90s.
func TestCenkaltiJitterExceedsItsCap(t *testing.T) {
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     time.Second,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          2,
		MaxInterval:         60 * time.Second,
	}
	var worst time.Duration
	for range 200 {
		bo.Reset()
		for range 12 {
			worst = max(worst, bo.NextBackOff())
		}
	}
	if worst <= 60*time.Second {
		t.Skipf("cenkalti stayed within its cap this time (worst %s)", worst)
	}
	ours := resilience.Backoff{Rand: func() float64 { return 0.999999 }}
	for n := range 100 {
		if d := ours.Delay(n); d > 60*time.Second {
			t.Fatalf("Delay(%d) = %s exceeds the cap", n, d)
		}
	}
	t.Logf("cenkalti worst delay with a 60s cap: %s; resilience never exceeds 60s", worst)
}
