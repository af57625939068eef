package builtin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/job/builtin"
	"github.com/jobrunner/jobrunner/resilience"
)

// testBundle is a webhook definition and a local receiver whose behaviour
// each test sets.
type testBundle struct {
	def  *job.Definition[builtin.WebhookPayload]
	srv  *httptest.Server
	hits atomic.Int32

	mu       sync.Mutex
	handler  http.HandlerFunc
	requests []*http.Request // clones, with the body read into bodies
	bodies   []string
	newConns atomic.Int32
}

func setup(t *testing.T, cfg builtin.Config) *testBundle {
	t.Helper()
	b := &testBundle{def: builtin.Webhook(cfg)}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.requests = append(b.requests, r.Clone(context.Background()))
		b.bodies = append(b.bodies, string(body))
		h := b.handler
		b.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.newConns.Add(1)
		}
	}
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	return b
}

func (b *testBundle) handle(h http.HandlerFunc) {
	b.mu.Lock()
	b.handler = h
	b.mu.Unlock()
}

func (b *testBundle) lastRequest(t *testing.T) (*http.Request, string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 {
		t.Fatal("the receiver got no request")
	}
	return b.requests[len(b.requests)-1], b.bodies[len(b.bodies)-1]
}

// run decodes payload strictly, as the worker does, and runs one attempt.
func (b *testBundle) run(ctx context.Context, payload any) error {
	raw, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	p, err := b.def.Prepare(raw)
	if err != nil {
		return err
	}
	return p.Run(ctx)
}

func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

func TestWebhookStatus(t *testing.T) {
	t.Parallel()
	const none = -1
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		permanent  bool
		retryAfter time.Duration // none: no hint
		slack      time.Duration // accepted shortfall of retryAfter
		contains   []string
	}{
		{name: "200", status: 200, body: "ok"},
		{name: "204", status: 204},
		{name: "202 with a large body", status: 202, body: strings.Repeat("x", 1<<20)},
		{name: "404 permanent with excerpt", status: 404, body: "no such\nhook\t\x1b[31mred", permanent: true, retryAfter: none,
			contains: []string{"status 404 Not Found", ": no such hook [31mred"}},
		{name: "400 large body is cut", status: 400, body: strings.Repeat("é", 1<<19), permanent: true, retryAfter: none,
			contains: []string{"status 400 Bad Request", strings.Repeat("é", builtin.WebhookExcerptBytes/2) + "…"}},
		{name: "409 ignores Retry-After", status: 409, header: map[string]string{"Retry-After": "5"}, permanent: true, retryAfter: none},
		{name: "302 without Location is permanent", status: 302, permanent: true, retryAfter: none, contains: []string{"status 302"}},
		{name: "429 Retry-After seconds", status: 429, header: map[string]string{"Retry-After": "7"}, retryAfter: 7 * time.Second,
			contains: []string{"status 429 Too Many Requests (retry after 7s)"}},
		{name: "503 Retry-After HTTP-date", status: 503,
			header:     map[string]string{"Retry-After": time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)},
			retryAfter: 30 * time.Second, slack: 5 * time.Second},
		{name: "503 Retry-After in the past", status: 503, header: map[string]string{"Retry-After": "Mon, 02 Jan 2006 15:04:05 GMT"}, retryAfter: 0},
		{name: "500 bad Retry-After", status: 500, header: map[string]string{"Retry-After": "soon"}, retryAfter: none},
		{name: "503 retryable", status: 503, body: "down for maintenance", retryAfter: none,
			contains: []string{"status 503 Service Unavailable: down for maintenance"}},
		{name: "408 retryable", status: 408, retryAfter: none},
		{name: "501 retryable", status: 501, retryAfter: none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, builtin.Config{})
			b.handle(func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			err := b.run(t.Context(), builtin.WebhookPayload{URL: b.srv.URL + "/hook"})
			if tt.status < 300 {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var se *builtin.WebhookStatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want a *WebhookStatusError", err, err)
			}
			if se.StatusCode != tt.status || se.Method != http.MethodPost || se.Origin != b.srv.URL {
				t.Errorf("status error = %+v", se)
			}
			if got := isPermanent(err); got != tt.permanent {
				t.Errorf("permanent = %v, want %v (err %v)", got, tt.permanent, err)
			}
			if len(se.Excerpt) > builtin.WebhookExcerptBytes+len("…") {
				t.Errorf("excerpt is %d bytes", len(se.Excerpt))
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %q, want it to contain %q", err, s)
				}
			}
			d, ok := resilience.RetryAfterHint(err)
			switch {
			case tt.retryAfter == none && ok:
				t.Errorf("retry-after hint %v, want none", d)
			case tt.retryAfter != none && !ok:
				t.Errorf("no retry-after hint, want %v", tt.retryAfter)
			case ok && (d > tt.retryAfter || d < tt.retryAfter-tt.slack):
				t.Errorf("retry-after hint %v, want %v (-%v)", d, tt.retryAfter, tt.slack)
			case ok && se.RetryAfter != d:
				t.Errorf("RetryAfter field %v, hint %v", se.RetryAfter, d)
			}
		})
	}
}

func TestWebhookRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload builtin.WebhookPayload
		check   func(t *testing.T, r *http.Request, body string)
	}{
		{"defaults", builtin.WebhookPayload{Body: json.RawMessage(`"{\"a\":1}"`)}, func(t *testing.T, r *http.Request, body string) {
			if r.Method != http.MethodPost || body != `{"a":1}` || r.URL.Path != "/hook" || r.Header.Get("Content-Type") != "" {
				t.Errorf("got %s %s %q, Content-Type %q", r.Method, r.URL, body, r.Header.Get("Content-Type"))
			}
			if r.Header.Get("User-Agent") != "jobrunner-webhook/1" || r.Header.Get("Idempotency-Key") != "" {
				t.Errorf("headers = %v", r.Header)
			}
		}},
		{"method headers and idempotency key", builtin.WebhookPayload{
			Method:         http.MethodPut,
			Headers:        map[string]string{"content-type": "application/json", "User-Agent": "acme/2", "Authorization": "Bearer t0ken-123456"},
			IdempotencyKey: "order-42",
		}, func(t *testing.T, r *http.Request, _ string) {
			h := r.Header
			if r.Method != http.MethodPut || h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != "acme/2" ||
				h.Get("Authorization") != "Bearer t0ken-123456" || h.Get("Idempotency-Key") != "order-42" {
				t.Errorf("got %s %v", r.Method, h)
			}
		}},
		{"GET without body", builtin.WebhookPayload{Method: http.MethodGet}, func(t *testing.T, r *http.Request, body string) {
			if r.Method != http.MethodGet || body != "" || r.ContentLength != 0 {
				t.Errorf("got %s, %d bytes %q", r.Method, r.ContentLength, body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, builtin.Config{})
			tt.payload.URL = b.srv.URL + "/hook"
			if err := b.run(t.Context(), tt.payload); err != nil {
				t.Fatal(err)
			}
			r, body := b.lastRequest(t)
			tt.check(t, r, body)
		})
	}
}

// TestWebhookBody: a JSON string is sent as is; any other JSON value is
// sent as written, as JSON, unless the headers give a content type.
func TestWebhookBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, headers, wantBody, wantType string
	}{
		{"string", `"plain text, sent as is"`, ``, "plain text, sent as is", ""},
		{"string that holds JSON", `"{\"a\": 1}"`, `{"Content-Type":"application/json"}`, `{"a": 1}`, "application/json"},
		{"object", `{"event": "order.paid", "amount": 12345678901234567890}`, ``,
			`{"event": "order.paid", "amount": 12345678901234567890}`, "application/json"},
		{"nested object and array", `{"a":[1,{"b":null}],"c":true}`, ``, `{"a":[1,{"b":null}],"c":true}`, "application/json"},
		{"array", `[1, 2]`, ``, `[1, 2]`, "application/json"},
		{"number", `42`, ``, `42`, "application/json"},
		{"false", `false`, ``, `false`, "application/json"},
		{"object, content type from headers", `{"a":1}`, `{"content-type":"application/vnd.acme+json"}`, `{"a":1}`, "application/vnd.acme+json"},
		{"null", `null`, ``, "", ""},
		{"absent", ``, ``, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, builtin.Config{})
			payload := `{"url":"` + b.srv.URL + `/hook"`
			if tt.body != "" {
				payload += `,"body":` + tt.body
			}
			if tt.headers != "" {
				payload += `,"headers":` + tt.headers
			}
			payload += "}"
			p, err := b.def.Prepare([]byte(payload))
			if err != nil {
				t.Fatalf("Prepare(%s): %v", payload, err)
			}
			if err := p.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			r, body := b.lastRequest(t)
			if body != tt.wantBody || r.Header.Get("Content-Type") != tt.wantType {
				t.Errorf("sent %q with Content-Type %q, want %q with %q", body, r.Header.Get("Content-Type"), tt.wantBody, tt.wantType)
			}
		})
	}
	// A JSON body survives a redirect (307 resends it) with its type.
	b := setup(t, builtin.Config{})
	var n atomic.Int32
	b.handle(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			http.Redirect(w, r, "/second", http.StatusTemporaryRedirect)
		}
	})
	if err := b.run(t.Context(), builtin.WebhookPayload{URL: b.srv.URL + "/first", Body: json.RawMessage(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if r, body := b.lastRequest(t); r.URL.Path != "/second" || body != `{"a":1}` || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("after a 307: %s got %q with Content-Type %q", r.URL.Path, body, r.Header.Get("Content-Type"))
	}
	// A Go caller's invalid JSON is refused by validation.
	if _, err := b.def.NewTask(builtin.WebhookPayload{URL: b.srv.URL, Body: json.RawMessage(`{`)}); err == nil {
		t.Error("NewTask accepted a body that is not JSON")
	}
}

func TestWebhookReusesConnections(t *testing.T) {
	t.Parallel()
	b := setup(t, builtin.Config{})
	var n atomic.Int32
	b.handle(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusNotFound)
		}
		_, _ = io.WriteString(w, strings.Repeat("x", 10<<10))
	})
	for range 4 {
		_ = b.run(t.Context(), builtin.WebhookPayload{URL: b.srv.URL})
	}
	if got := b.newConns.Load(); got != 1 {
		t.Fatalf("4 deliveries opened %d connections, want 1", got)
	}
}

func TestWebhookConnectionRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, builtin.Config{})
	err := b.run(t.Context(), builtin.WebhookPayload{URL: "http://" + closedAddr(t) + "/hook"})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want connection refused", err)
	}
	if isPermanent(err) {
		t.Fatalf("connection refused must be retryable: %v", err)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestWebhookContext(t *testing.T) {
	t.Parallel()
	slow := func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}

	t.Run("cancellation stops a slow receiver", func(t *testing.T) {
		t.Parallel()
		b := setup(t, builtin.Config{})
		b.handle(slow)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		err := b.run(ctx, builtin.WebhookPayload{URL: b.srv.URL, TimeoutMS: 60_000})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("returned after %v", d)
		}
	})

	t.Run("timeout_ms bounds a delivery", func(t *testing.T) {
		t.Parallel()
		b := setup(t, builtin.Config{})
		b.handle(slow)
		start := time.Now()
		err := b.run(t.Context(), builtin.WebhookPayload{URL: b.srv.URL, TimeoutMS: 100})
		if !errors.Is(err, context.DeadlineExceeded) || isPermanent(err) || !strings.Contains(err.Error(), "no response within 100ms") {
			t.Fatalf("err = %v, want a retryable timeout", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("returned after %v", d)
		}
	})
}

func TestWebhookValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, payload, field, msg string
	}{
		{"minimal", `{"url":"https://example.com/hook"}`, "", ""},
		{"full", `{"url":"http://u:p@example.com:8080/h?q=1","method":"PATCH","headers":{"Authorization":"Bearer x","X-A":"1"},
			"body":"{}","idempotency_key":"k","timeout_ms":300000}`, "", ""},
		{"loopback is valid", `{"url":"http://127.0.0.1:9/"}`, "", ""},
		{"object body", `{"url":"https://example.com","body":{"event":"x","n":[1,2]}}`, "", ""},
		{"number body", `{"url":"https://example.com","body":3}`, "", ""},
		{"missing url", `{}`, "url", "is required"},
		{"url wrong type", `{"url":5}`, "url", "want string"},
		{"unknown field", `{"url":"https://example.com","urll":"x"}`, "urll", "unknown field"},
		{"relative url", `{"url":"/hook"}`, "url", "absolute"},
		{"ftp scheme", `{"url":"ftp://example.com/x"}`, "url", `scheme must be http or https, got "ftp"`},
		{"javascript scheme", `{"url":"javascript:alert(1)"}`, "url", "scheme"},
		{"no host", `{"url":"http:///x"}`, "url", "must have a host"},
		{"opaque", `{"url":"http:example.com"}`, "url", "must have a host"},
		{"bad port", `{"url":"http://u:pa55w0rd-secret@example.com:x/"}`, "url", "not a valid URL"},
		{"metadata literal", `{"url":"http://169.254.169.254/latest"}`, "url", "cloud metadata"},
		{"metadata IPv6 literal", `{"url":"http://[fd00:ec2::254]/"}`, "url", "cloud metadata"},
		{"mapped metadata literal", `{"url":"http://[::ffff:169.254.169.254]/"}`, "url", "cloud metadata"},
		{"link-local IPv6 literal", `{"url":"http://[fe80::1%25eth0]/"}`, "url", "link-local"},
		{"lower-case method", `{"url":"https://example.com","method":"post"}`, "method", "must be one of"},
		{"TRACE", `{"url":"https://example.com","method":"TRACE"}`, "method", `got "TRACE"`},
		{"negative timeout", `{"url":"https://example.com","timeout_ms":-1}`, "timeout_ms", "between 0 and 300000"},
		{"timeout above cap", `{"url":"https://example.com","timeout_ms":300001}`, "timeout_ms", "between 0 and 300000"},
		{"bad header name", `{"url":"https://example.com","headers":{"Bad Name":"v"}}`, "headers", "not a valid header name"},
		{"header value with CRLF", `{"url":"https://example.com","headers":{"X-A":"pa55w0rd-secret\r\nX-B: 1"}}`, "headers", "control character"},
		{"header value wrong type", `{"url":"https://example.com","headers":{"X-A":1}}`, "headers", "want string"},
		{"Host header", `{"url":"https://example.com","headers":{"host":"evil"}}`, "headers", `"Host" is set by the HTTP transport`},
		{"duplicate header", `{"url":"https://example.com","headers":{"x-a":"1","X-A":"2"}}`, "headers", "given twice"},
		{"two idempotency keys", `{"url":"https://example.com","idempotency_key":"a","headers":{"Idempotency-Key":"b"}}`, "headers", "conflicts"},
		{"idempotency key too long", `{"url":"https://example.com","idempotency_key":"` + strings.Repeat("k", 256) + `"}`, "idempotency_key", "at most 255"},
		{"idempotency key with newline", `{"url":"https://example.com","idempotency_key":"a\nb"}`, "idempotency_key", "control"},
	}
	def := builtin.Webhook(builtin.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := def.Prepare([]byte(tt.payload))
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				return
			}
			var pe *job.PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *job.PayloadError", err, err)
			}
			if pe.Field != tt.field || pe.Type != builtin.WebhookType {
				t.Errorf("Field, Type = %q, %q, want %q, %q (err %v)", pe.Field, pe.Type, tt.field, builtin.WebhookType, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), "pa55w0rd-secret") {
				t.Errorf("err = %q shows a secret", err)
			}
		})
	}
}

func TestWebhookHooks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, dependency string
	}{
		{"https://API.Example.com/x?y=1", "api.example.com"},
		{"https://api.example.com:443/", "api.example.com"},
		{"http://api.example.com:80/", "api.example.com"},
		{"https://api.example.com:80/", "api.example.com:80"},
		{"http://bob:pw@Example.COM./", "example.com"},
		{"http://127.0.0.1:8080/hook", "127.0.0.1:8080"},
		{"https://[::1]:8443/", "[::1]:8443"},
		{"https://[2001:DB8::1]/", "2001:db8::1"},
	}
	def := builtin.Webhook(builtin.Config{})
	for _, tt := range tests {
		raw, _ := json.Marshal(builtin.WebhookPayload{URL: tt.url, IdempotencyKey: "evt-1"})
		p, err := def.Prepare(raw)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if len(p.Dependencies) != 1 || p.Dependencies[0] != tt.dependency {
			t.Errorf("%s: Dependencies = %q, want [%q]", tt.url, p.Dependencies, tt.dependency)
		}
		if p.DedupeKey != "evt-1" {
			t.Errorf("%s: DedupeKey = %q", tt.url, p.DedupeKey)
		}
	}
	p, err := def.Prepare([]byte(`{"url":"https://example.com"}`))
	if err != nil || p.DedupeKey != "" {
		t.Fatalf("no idempotency_key: DedupeKey %q, err %v", p.DedupeKey, err)
	}
	if o := def.Options(); o.Timeout <= builtin.WebhookTimeoutMax {
		t.Errorf("job timeout %v does not leave room for timeout_ms up to %v", o.Timeout, builtin.WebhookTimeoutMax)
	}
	if _, ok := builtin.Registry(builtin.Config{}).Lookup(builtin.WebhookType); !ok {
		t.Error("webhook.deliver is not among the built-ins")
	}
}
