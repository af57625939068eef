package setup

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestRedisLoggerRateLimit(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newRedisLogger(zerolog.New(&buf), 3, 10*time.Second, clock.now)
	dial := func() {
		l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 5, "refused")
	}
	// An outage: a failed dial every 200ms for a minute.
	for range 300 {
		dial()
		clock.advance(200 * time.Millisecond)
	}
	var lines []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("not JSON: %q", s)
		}
		lines = append(lines, m)
	}
	// 3 at once, then one per 10s over the remaining ~60s.
	if len(lines) < 8 || len(lines) > 10 {
		t.Fatalf("%d lines for 300 dial failures in 60s, want 3 + about one per 10s:\n%s", len(lines), buf.String())
	}
	total := 0
	for i, m := range lines {
		if m["level"] != "warn" || m["component"] != "redis" ||
			m["message"] != "connection pool: failed to dial after 5 attempts: refused" {
			t.Fatalf("line %d = %v", i, m)
		}
		n, _ := m["suppressed"].(float64)
		if i < 3 && n != 0 {
			t.Fatalf("line %d reports %v suppressed", i, n)
		}
		total += 1 + int(n)
	}
	// Every line is either written or counted in a later one, except the
	// ones dropped after the last line written.
	if total > 300 || total < 300-50 {
		t.Fatalf("lines written plus suppressed = %d, want about 300", total)
	}
	// After a quiet spell the burst is back.
	buf.Reset()
	clock.advance(time.Minute)
	for range 5 {
		dial()
	}
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Fatalf("after a quiet minute: %d lines, want 3", n)
	}
}

func TestRedisLoggerLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := newRedisLogger(zerolog.New(&buf).Level(zerolog.ErrorLevel), 3, time.Second, time.Now)
	l.Printf(context.Background(), "redis: %s", "x")
	if buf.Len() != 0 {
		t.Fatalf("wrote %q at level error", buf.String())
	}
}
