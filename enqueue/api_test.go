package enqueue

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/setup"
)

// apiBundle is the API on a Redis of its own, served by httptest, and a
// client whose every exchange is checked against openapi.yaml.
type apiBundle struct {
	*testBundle
	api   *api
	url   string
	hc    *http.Client
	token string
	logs  *lockedWriter
}

// testSettings are the API's settings in tests: short timeouts, so that a
// hung Redis is answered 503 fast.
func testSettings() apiSettings {
	return apiSettings{maxPayload: MaxPayloadBytesDefault, maxBody: 1 << 20, maxLines: 100,
		requestTimeout: 500 * time.Millisecond, bulkTimeout: time.Second, idemTTL: time.Hour}
}

// newAPIBundle serves the API with tokens (none: no auth) and settings.
func newAPIBundle(t *testing.T, set apiSettings, tokens string) *apiBundle {
	t.Helper()
	b := &apiBundle{testBundle: newBundle(t), logs: &lockedWriter{w: &bytes.Buffer{}}}
	ts, err := parseTokens(tokens)
	if err != nil {
		t.Fatal(err)
	}
	if tokens != "" {
		b.token = strings.Split(tokens, ",")[0]
	}
	b.cfg.Logger = zerolog.New(b.logs)
	opts, err := setup.ParseRedisURL(b.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := newServeClient(opts, DialTimeoutDefault)
	t.Cleanup(func() { rdb.Close() })
	b.api = newAPI(b.cfg.withDefaults(), set, rdb, ts, nil)
	srv := httptest.NewServer(b.api)
	t.Cleanup(srv.Close)
	b.url = srv.URL
	_, router := loadContract(t, srv.URL)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	b.hc = &http.Client{Transport: &contractTransport{t: t, router: router, base: tr}, Timeout: 10 * time.Second}
	return b
}

// answer is a response, its body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a map.
func (a answer) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d: %v\n%s", a.status, err, a.body)
	}
	return m
}

// do sends a request with the bundle's token; headers are name, value pairs.
func (b *apiBundle) do(t testing.TB, method, path, body string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, b.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.token != "" {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, res.Header, rb}
}

// taskCount returns how many tasks of queue exist in Redis.
func (b *apiBundle) taskCount(t testing.TB, queue string) int {
	t.Helper()
	ks, err := b.rdb.Keys(context.Background(), "asynq:{"+queue+"}:t:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(ks)
}

// checkTTLs fails the test for any key of ours (jobrunner:*) without a TTL.
func checkTTLs(t testing.TB, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	ks, err := rdb.Keys(ctx, "jobrunner:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if !strings.HasPrefix(k, IdempotencyKeyPrefix) {
			t.Errorf("key %s: not an idempotency record", k)
		}
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("key %s has no TTL (%v)", k, ttl)
		}
	}
}

// lockedWriter serializes writes to a buffer shared with the test.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// String returns what was written so far.
func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
