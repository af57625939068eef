package lockcore

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	k := newKeys("")
	for got, want := range map[string]string{
		k.lock("invoice:123"):     "jobrunner:{invoice:123}:lock",
		k.inflight("invoice:123"): "jobrunner:{invoice:123}:inflight",
		newKeys("app").lock("x"):  "app:{x}:lock",
		k.lock("}x{"):             "jobrunner:{%7Dx%7B}:lock",
		k.lock("100%"):            "jobrunner:{100%25}:lock",
	} {
		if got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
}

// TestKeysShareSlot checks that all keys of one (non-empty) user key hash to one slot,
// whatever characters the user key holds.
func TestKeysShareSlot(t *testing.T) {
	t.Parallel()
	k := newKeys("p")
	alphabet := []byte("ab{}%:")
	for range 2000 {
		b := make([]byte, 1+rand.IntN(6)) // empty keys are rejected
		for i := range b {
			b[i] = alphabet[rand.IntN(len(alphabet))]
		}
		key := string(b)
		slot := hashSlot(k.lock(key))
		for _, other := range []string{k.inflight(key), k.checkpoint(Checkpoint{Lease: &Lease{key: key}})} {
			if hashSlot(other) != slot {
				t.Fatalf("key %q: %s in slot %d, lock in %d", key, other, hashSlot(other), slot)
			}
		}
	}
}

func TestHashSlot(t *testing.T) {
	t.Parallel()
	// Values from CLUSTER KEYSLOT.
	for key, want := range map[string]int{
		"foo":                  12182,
		"hello":                866,
		"{user1000}.following": hashSlot("user1000"),
		"{}foo":                hashSlot("{}foo"),
		"foo{}{bar}":           hashSlot("foo{}{bar}"),
		"foo{{bar}}zap":        hashSlot("{bar"),
	} {
		if got := hashSlot(key); got != want {
			t.Errorf("hashSlot(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := newBackoff(10*time.Millisecond, 80*time.Millisecond)
	for i, ceil := range []time.Duration{10, 20, 40, 80, 80, 80} {
		ceil *= time.Millisecond
		if d := b.next(0); d < ceil/2 || d > ceil {
			t.Errorf("pause %d = %s, want in [%s, %s]", i, d, ceil/2, ceil)
		}
	}
	if d := b.next(3 * time.Millisecond); d < 3*time.Millisecond || d > 13*time.Millisecond {
		t.Errorf("pause with a 3ms hint = %s", d)
	}
	if d := newBackoff(0, 0); d.min != RetryMinDefault || d.max != RetryMaxDefault {
		t.Errorf("defaults = %s, %s", d.min, d.max)
	}
}
