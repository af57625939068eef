package lockcore

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestMsArgs(t *testing.T) {
	var c msArgs
	for i := range cowMapMax + 10 {
		d := time.Duration(1000+i) * time.Millisecond
		if got := c.arg(d); got != any(int64(1000+i)) {
			t.Fatalf("%v: %v", d, got)
		}
		if got := c.arg(d); got != any(int64(1000+i)) { // cached or not
			t.Fatalf("%v again: %v", d, got)
		}
	}
	if n := len(*c.m.Load()); n != cowMapMax {
		t.Fatalf("cache holds %d values, want at most %d", n, cowMapMax)
	}
	if a := testing.AllocsPerRun(100, func() { _ = c.arg(1000 * time.Millisecond) }); a != 0 {
		t.Fatalf("a cached value allocates %v times", a)
	}
}

// Every script is registered with its hash, so EVALSHA never boxes one.
func TestScriptHashes(t *testing.T) {
	for _, s := range []*redis.Script{acquireScript, admitScript, completeScript, extendScript, releaseScript, limitInspectScript} {
		if h, ok := scriptHashes[s]; !ok || h != any(s.Hash()) {
			t.Fatalf("script %s: hash %v, %v", s.Hash(), h, ok)
		}
	}
}
