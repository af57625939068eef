package faulttest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// keyRule is a kind of Redis key a worker may leave behind: asynq's own,
// or a jobrunner record the README documents.
type keyRule struct {
	// doc is the key's pattern as the docs list it (chaosDoc).
	doc string
	re  *regexp.Regexp
	// ttl says the key must expire, within [minTTL, maxTTL].
	ttl            bool
	minTTL, maxTTL time.Duration
	// after checks a key once the workers are gone: "" when it is right.
	after func(ctx context.Context, rdb redis.UniversalClient, key string) string
}

// chaosKeyRules are the keys allowed after the chaos run. The TTL bounds
// are the documented ones (README: locks, dedupe records and fences, the
// schedule record, deferral notes, concurrency slots).
var chaosKeyRules = []keyRule{
	{doc: "asynq:{QUEUE}:…", re: regexp.MustCompile(`^asynq:\{default\}:(pending|active|scheduled|retry|archived|completed|lease|processed|failed|(processed|failed):\d{4}-\d\d-\d\d|t:.+)$`)},
	{doc: "asynq:queues", re: regexp.MustCompile(`^asynq:(queues|servers|workers)$`)},
	{doc: "asynq:servers:{…}", re: regexp.MustCompile(`^asynq:(servers|workers):\{.+\}$`), ttl: true, maxTTL: time.Minute},
	{doc: "jobrunner:{KEY}:lock", re: regexp.MustCompile(`^jobrunner:\{[^}]+\}:lock$`), ttl: true, maxTTL: 24 * time.Hour,
		after: func(ctx context.Context, rdb redis.UniversalClient, key string) string {
			// The key keeps the lock's fence for a day; the lock is held
			// while it names an owner whose deadline is ahead (L<fence>:<deadline ms>:<owner>;
			// a free lock holds its fence alone).
			v, err := rdb.Get(ctx, key).Result()
			now, terr := rdb.Time(ctx).Result()
			if err != nil || terr != nil {
				return ""
			}
			if _, err := strconv.ParseInt(v, 10, 64); err == nil {
				return "" // free: the fence alone
			}
			parts := strings.SplitN(v, ":", 3)
			if len(parts) != 3 || !strings.HasPrefix(parts[0], "L") {
				return "not a lock value: " + v
			}
			if deadline, _ := strconv.ParseInt(parts[1], 10, 64); parts[2] != "" && deadline > now.UnixMilli() {
				return "a lock is still held after every worker drained: " + v
			}
			return ""
		}},
	{doc: "jobrunner:{TYPE:KEY}:inflight", re: regexp.MustCompile(`^jobrunner:\{[^}]+\}:inflight$`), ttl: true, maxTTL: 24 * time.Hour,
		after: func(ctx context.Context, rdb redis.UniversalClient, key string) string {
			if v, err := rdb.Get(ctx, key).Result(); err == nil && v != "1" && !strings.HasPrefix(v, "\x01") {
				// Not a completed record: "1", or byte 1 and the result
				// (records without a result are in buckets, jobrunner:r:N).
				return "an in-flight marker is still held after every worker drained: " + v
			}
			return ""
		}},
	// A bucket lives three quarters of the window past its newest record.
	{doc: "jobrunner:r:N", re: regexp.MustCompile(`^jobrunner:(r:\d+|\{[0-9a-z]+\}:r\d+)$`), ttl: true, maxTTL: 24*time.Hour + 3*6*time.Hour},
	{doc: "jobrunner:{limit:DEP}:slots", re: regexp.MustCompile(`^jobrunner:\{limit:[^}]+\}:(slots|waiters)$`), ttl: true, maxTTL: SlotTTL,
		after: func(ctx context.Context, rdb redis.UniversalClient, key string) string {
			now, err := rdb.Time(ctx).Result()
			if err != nil || !strings.HasSuffix(key, ":slots") {
				return ""
			}
			if n, _ := rdb.ZCount(ctx, key, fmt.Sprint(now.UnixMilli()), "+inf").Result(); n > 0 {
				return fmt.Sprintf("%d concurrency slots are still held after every worker drained", n)
			}
			return ""
		}},
	{doc: "jobrunner:deferral:{TASK}:N", re: regexp.MustCompile(`^jobrunner:deferral:\{[^}]+\}:\d+$`), ttl: true, maxTTL: 26 * time.Hour},
	{doc: "jobrunner:schedule:{NAME}:last", re: regexp.MustCompile(`^jobrunner:schedule:\{[^}]+\}:last$`), ttl: true,
		minTTL: 7*24*time.Hour - 5*time.Minute, maxTTL: 7 * 24 * time.Hour},
	{doc: "jobrunner:schedule:{NAME}:skipped", re: regexp.MustCompile(`^jobrunner:schedule:\{[^}]+\}:skipped$`), ttl: true,
		minTTL: 7*24*time.Hour - 5*time.Minute, maxTTL: 7 * 24 * time.Hour},
	{doc: "jobrunner:schedule:{NAME}:held", re: regexp.MustCompile(`^jobrunner:schedule:\{[^}]+\}:held$`), ttl: true, maxTTL: 2 * time.Minute},
	{doc: "jobrunner:batches", re: regexp.MustCompile(`^jobrunner:batches$`), ttl: true, maxTTL: 7 * 24 * time.Hour},
}

// checkKeys lists every key in the worker's Redis (SCAN) and checks it
// against chaosKeyRules: each must match a rule, and have the rule's TTL;
// once the workers are gone no lock or marker may be held. It returns the
// count per rule.
func (c *chaos) checkKeys() map[string]int {
	c.t.Helper()
	ctx, rdb := context.Background(), c.e.admin
	counts := map[string]int{}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		var rule *keyRule
		for i := range chaosKeyRules {
			if chaosKeyRules[i].re.MatchString(key) {
				rule = &chaosKeyRules[i]
				break
			}
		}
		if rule == nil {
			c.t.Errorf("Redis key %q is none of the documented kinds", key)
			continue
		}
		counts[rule.doc]++
		ttl, err := rdb.PTTL(ctx, key).Result()
		switch {
		case err != nil:
			c.t.Fatal(err)
		case ttl == -2: // gone meanwhile
			continue
		case rule.ttl && ttl < 0:
			c.t.Errorf("Redis key %q has no TTL; %s keys must expire", key, rule.doc)
		case rule.ttl && (ttl > rule.maxTTL || ttl < rule.minTTL):
			c.t.Errorf("Redis key %q expires in %v, want %v to %v", key, ttl, rule.minTTL, rule.maxTTL)
		}
		if rule.after != nil {
			if msg := rule.after(ctx, rdb, key); msg != "" {
				c.t.Errorf("Redis key %q: %s", key, msg)
			}
		}
	}
	if err := iter.Err(); err != nil {
		c.t.Fatal(err)
	}
	// State stays bounded: one key per lock key, one record per dedupe
	// key (the jobs', and one per tick since the first worker started).
	if n := counts["jobrunner:{KEY}:lock"]; n > chaosLocks {
		c.t.Errorf("%d lock keys for %d lock keys used", n, chaosLocks)
	}
	if n, most := counts["jobrunner:{TYPE:KEY}:inflight"], len(c.groups)+int(time.Since(c.began)/time.Second)+1; n > most {
		c.t.Errorf("%d dedupe records, more than the %d dedupe keys used", n, most)
	}
	return counts
}

// TestChaosKeysDocumented: every kind of key the chaos run allows in Redis
// is listed where the run is documented, so neither can change alone.
func TestChaosKeysDocumented(t *testing.T) {
	doc := chaosDoc(t)
	for _, r := range chaosKeyRules {
		if !strings.Contains(doc, "`"+r.doc+"`") {
			t.Errorf("the README's \"Faults we test\" (or docs/faults.md) does not list the key %s", r.doc)
		}
	}
}

// chaosDoc returns the text that documents the chaos run: the README's
// "Faults we test" section, or, where the docs have their own pages,
// docs/faults.md.
func chaosDoc(t interface{ Fatal(...any) }) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	if b, err := os.ReadFile(filepath.Join(root, "docs", "faults.md")); err == nil {
		return string(b)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	const heading = "\n## Faults we test\n"
	i := strings.Index(s, heading)
	if i < 0 {
		return ""
	}
	s = s[i+len(heading):]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	return s
}
