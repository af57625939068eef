package lockcore

import (
	"testing"
	"time"
)

// TestSlotTags: every Cluster slot has a tag that hashes to it, so a
// record's bucket shares its marker's slot.
func TestSlotTags(t *testing.T) {
	tags := slotTags()
	for slot, tag := range tags {
		if got := hashSlot("jobrunner:{" + tag + "}:r0"); got != slot {
			t.Fatalf("tag %q of slot %d hashes to slot %d", tag, slot, got)
		}
	}
	b := buckets{prefix: "jobrunner", n: 3 * slotCount, tags: tags}
	for _, k := range []string{"invoice:123", "a{b}c", "%7B", "~x"} {
		want := hashSlot(newKeys("").inflight(k))
		if got := hashSlot(b.key(k, b.n)); got != want {
			t.Errorf("bucket of %q in slot %d, its marker in %d", k, got, want)
		}
	}
}

// TestServerClock: the estimate follows the local clock from the sample on,
// is never behind it, and goes stale after clockRefresh.
func TestServerClock(t *testing.T) {
	var c serverClock
	t0 := time.Now()
	if _, ok := c.now(t0); ok {
		t.Fatal("an estimate before any sample")
	}
	c.set(1_000_000, t0)
	if ms, ok := c.now(t0.Add(1500 * time.Microsecond)); !ok || ms < 1_000_002 || ms > 1_000_003 {
		t.Errorf("estimate 1.5ms on = %d, %v; want 1000002 or 1000003", ms, ok)
	}
	if _, ok := c.now(t0.Add(clockRefresh + time.Millisecond)); ok {
		t.Error("an estimate past clockRefresh")
	}
	if _, ok := c.now(t0.Add(-time.Millisecond)); ok {
		t.Error("an estimate before its sample")
	}
}

// TestSentinels: a window's sentinel is built once per quarter and names it
// as completeBucket in lua/lock.lua would.
func TestSentinels(t *testing.T) {
	var c sentinels
	a := c.get(400, 1000)
	if a.k != 10 || a.name != "~400:10" || a.value != "1200" {
		t.Fatalf("sentinel = %+v, want quarter 10, ~400:10, 1200", a)
	}
	if b := c.get(400, 1099); b != a {
		t.Errorf("same quarter: a new sentinel %+v", b)
	}
	if b := c.get(400, 1100); b.k != 11 || b.name != "~400:11" || b.value != "1300" {
		t.Errorf("next quarter: sentinel %+v, want ~400:11, 1300", b)
	}
	if b := c.get(400, 1000); b.k != 11 {
		t.Errorf("a late caller got quarter %d, want the newer 11", b.k)
	}
	if a := testing.AllocsPerRun(100, func() { _ = c.get(400, 1150) }); a != 0 {
		t.Errorf("a cached sentinel allocates %v times", a)
	}
	if b := c.get(86_400_000, 1733600000000); b.name != "~86400000:80259" {
		t.Errorf("24h window: sentinel %v", b.name)
	}
}
