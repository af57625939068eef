package builtin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jobrunner/jobrunner/job"
)

// WebhookType is the task type of the webhook job.
const WebhookType = "webhook.deliver"

// Limits and defaults of webhook.deliver.
const (
	// WebhookTimeoutDefault bounds one delivery (connect, request, response
	// headers and the bounded body read) when timeout_ms is 0.
	WebhookTimeoutDefault = 10 * time.Second
	// WebhookTimeoutMax is the largest timeout_ms accepted.
	WebhookTimeoutMax = 5 * time.Minute
	// WebhookMaxRedirects is how many redirects a delivery follows.
	WebhookMaxRedirects = 5
	// WebhookExcerptBytes is the length of the response body excerpt in the
	// error of a failed delivery.
	WebhookExcerptBytes = 200
	// WebhookIdempotencyKeyMax is the longest idempotency_key accepted.
	WebhookIdempotencyKeyMax = 255

	// webhookReadLimit bounds how much of a response body is read: enough
	// to drain small bodies so the connection is reused, never a whole
	// large one.
	webhookReadLimit = 64 << 10
	// webhookDialTimeout bounds one TCP connect, below the request timeout
	// so a dead address leaves time to try the host's next one.
	webhookDialTimeout = 10 * time.Second
	// webhookRetryAfterCeiling bounds a Retry-After value; the runner's
	// retry policy caps it further.
	webhookRetryAfterCeiling = 24 * time.Hour
	webhookUserAgent         = "jobrunner-webhook/1"
)

// webhookMethods are the methods a payload may ask for. CONNECT and TRACE
// are left out: neither makes sense for a webhook, and TRACE echoes the
// request's secret headers back.
var webhookMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// webhookTransportHeaders are set by the HTTP transport; a payload setting
// them would be silently ignored or would corrupt the framing.
var webhookTransportHeaders = []string{
	"Connection", "Content-Length", "Host", "Keep-Alive", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// WebhookPayload is webhook.deliver's payload.
type WebhookPayload struct {
	// URL is the absolute http or https URL to send to. It may carry
	// userinfo (sent as basic auth); errors never show it in full.
	URL string `json:"url"`
	// Method is the HTTP method, in upper case. Defaults to POST.
	Method string `json:"method,omitempty"`
	// Headers are sent with the request. Their values are treated as
	// secrets: they never appear in errors or logs, and they are dropped
	// when a redirect leaves the URL's host or goes from https to http.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the request body, as a JSON value: a JSON string is sent as
	// its text, as is (set Content-Type in Headers); any other JSON value
	// (an object, array, number, true or false) is sent as JSON, exactly as
	// written in the payload, with Content-Type: application/json unless
	// Headers set a Content-Type. Absent or null means no body. In Go,
	// json.Marshal a value into it; a text body is json.Marshal of a string.
	Body json.RawMessage `json:"body,omitempty"`
	// IdempotencyKey is sent as the Idempotency-Key header and is the job's
	// dedupe key. Empty means neither.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// TimeoutMS bounds one delivery, in milliseconds. Zero means
	// WebhookTimeoutDefault (10s); at most WebhookTimeoutMax (5 min).
	TimeoutMS int `json:"timeout_ms,omitempty"`
}

// Validate checks the payload's fields. Its errors never quote header
// values or the URL.
func (p WebhookPayload) Validate() error {
	if p.URL == "" {
		return job.FieldError("url", "is required")
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL
		}
		return job.FieldError("url", "is not a valid URL: %v", err)
	}
	switch {
	case u.Scheme == "":
		return job.FieldError("url", "must be an absolute http or https URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return job.FieldError("url", "scheme must be http or https, got %q", clip(u.Scheme))
	case u.Opaque != "" || u.Hostname() == "":
		return job.FieldError("url", "must have a host")
	}
	if a, err := netip.ParseAddr(u.Hostname()); err == nil {
		if r := alwaysRefused(a); r != "" {
			return job.FieldError("url", "destination %s is refused: %s", a.WithZone(""), r)
		}
	}
	if p.Method != "" && !slices.Contains(webhookMethods, p.Method) {
		return job.FieldError("method", "must be one of %s, got %q", strings.Join(webhookMethods, ", "), clip(p.Method))
	}
	if len(p.Body) > 0 && !json.Valid(p.Body) { // only a Go caller can get here: Decode checks JSON
		return job.FieldError("body", "is not valid JSON")
	}
	if p.TimeoutMS < 0 || time.Duration(p.TimeoutMS)*time.Millisecond > WebhookTimeoutMax {
		return job.FieldError("timeout_ms", "must be between 0 and %d, got %d", WebhookTimeoutMax.Milliseconds(), p.TimeoutMS)
	}
	if err := validateHeaders(p.Headers, p.IdempotencyKey != ""); err != nil {
		return err
	}
	if len(p.IdempotencyKey) > WebhookIdempotencyKeyMax || !validHeaderValue(p.IdempotencyKey) {
		return job.FieldError("idempotency_key", "must be at most %d bytes without control characters", WebhookIdempotencyKeyMax)
	}
	return nil
}

func validateHeaders(h map[string]string, haveKey bool) error {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names) // the first error is the same every time
	seen := make(map[string]bool, len(h))
	for _, name := range names {
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !validHeaderName(name):
			return job.FieldError("headers", "%q is not a valid header name", clip(name))
		case !validHeaderValue(h[name]):
			// Never quote the value: it may be a secret.
			return job.FieldError("headers", "the value of %q contains a control character", name)
		case seen[canon]:
			return job.FieldError("headers", "%q is given twice (header names are case-insensitive)", canon)
		case slices.Contains(webhookTransportHeaders, canon):
			return job.FieldError("headers", "%q is set by the HTTP transport and cannot be given", canon)
		case canon == "Idempotency-Key" && haveKey:
			return job.FieldError("headers", "Idempotency-Key conflicts with idempotency_key; give only idempotency_key")
		}
		seen[canon] = true
	}
	return nil
}

func (p WebhookPayload) method() string { return cmp.Or(p.Method, http.MethodPost) }

// body returns the bytes to send, nil for none, and the content type they
// imply: "application/json" for a JSON value other than a string, else "".
func (p WebhookPayload) body() ([]byte, string) {
	raw := bytes.TrimSpace(p.Body)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, ""
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return raw, "" // Validate refuses invalid JSON; keep the bytes
		}
		return []byte(s), ""
	default:
		return raw, "application/json"
	}
}

func (p WebhookPayload) timeout() time.Duration {
	if p.TimeoutMS == 0 {
		return WebhookTimeoutDefault
	}
	return time.Duration(p.TimeoutMS) * time.Millisecond
}

// Webhook returns the webhook.deliver definition. It sends the payload's
// request: a 2xx answer completes the job; 408, 429, 5xx and network errors
// are retried, after the delay of a Retry-After header when there is one;
// any other answer (other 4xx, an unfollowed 3xx) archives it with a
// permanent *WebhookStatusError.
//
// Destinations are checked on every connection, after DNS resolution and on
// every redirect: link-local and cloud-metadata addresses are always
// refused, loopback and private ranges when cfg.WebhookDenyPrivate is set
// (see [WebhookDestinationError]). Proxy environment variables are ignored,
// since a proxy would hide the destination from that check.
//
// The job's breaker dependency is the URL's host, lowercased, with the port
// only when it is not the scheme's default ("api.example.com",
// "10.0.0.7:8080"): one breaker per receiving service. Its dedupe key is
// idempotency_key.
//
// Each call returns a definition with its own HTTP client and connection
// pool.
func Webhook(cfg Config) *job.Definition[WebhookPayload] {
	w := newWebhook(cfg)
	return &job.Definition[WebhookPayload]{
		Type:    WebhookType,
		Handle:  w.deliver,
		Timeout: WebhookTimeoutMax + time.Minute,
		DedupeKey: func(p WebhookPayload) string {
			return p.IdempotencyKey
		},
		Dependencies: func(p WebhookPayload) []string {
			if d := webhookDependency(p.URL); d != "" {
				return []string{d}
			}
			return nil
		},
	}
}

// webhook holds what deliveries share: one client, so connections are
// reused across jobs.
type webhook struct {
	client *http.Client
	now    func() time.Time
}

func newWebhook(cfg Config) *webhook {
	g := newGuard(cfg.WebhookDenyPrivate)
	t := &http.Transport{
		Proxy:                  nil,
		DialContext:            g.dialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    10,
		MaxResponseHeaderBytes: 1 << 20,
	}
	return &webhook{
		client: &http.Client{Transport: t, CheckRedirect: checkWebhookRedirect},
		now:    time.Now,
	}
}

func (w *webhook) deliver(ctx context.Context, p WebhookPayload) error {
	u, err := url.Parse(p.URL)
	if err != nil { // Validate has run, so only a direct call gets here
		return &job.PayloadError{Type: WebhookType, Field: "url", Err: errors.New("is not a valid URL")}
	}
	method, origin := p.method(), webhookOrigin(u)
	reqCtx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()

	var body io.Reader
	reqBody, contentType := p.body()
	if len(reqBody) > 0 {
		body = bytes.NewReader(reqBody) // rewindable, so 307 and 308 resend it
	}
	req, err := http.NewRequestWithContext(reqCtx, method, p.URL, body)
	if err != nil {
		return &webhookError{msg: fmt.Sprintf("webhook.deliver: %s %s: cannot build the request", method, origin), permanent: true}
	}
	for name, v := range p.Headers {
		req.Header.Set(name, v)
	}
	if contentType != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", contentType)
	}
	if p.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", p.IdempotencyKey)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", webhookUserAgent)
	}

	resp, err := w.client.Do(req)
	if err != nil {
		return requestError(ctx, reqCtx, method, origin, p.timeout(), func() *job.Sanitizer { return webhookSanitizer(p, u) }, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, webhookReadLimit)) // for connection reuse
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, webhookReadLimit)) // the status decides; a short read is fine
	se := &WebhookStatusError{
		Method:     method,
		Origin:     origin,
		StatusCode: resp.StatusCode,
		Excerpt:    webhookExcerpt(string(b), webhookSanitizer(p, u)),
	}
	if !se.Permanent() {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), w.now()); ok {
			se.RetryAfter = d
			return job.RetryAfter(se, d)
		}
	}
	return se
}

// requestError turns a failed Client.Do into the job's error. The
// *url.Error is dropped: it repeats the URL, which may carry secrets. san
// builds the delivery's sanitizer, for the cause's text.
func requestError(ctx, reqCtx context.Context, method, origin string, timeout time.Duration, san func() *job.Sanitizer, err error) error {
	var de *WebhookDestinationError
	if errors.As(err, &de) {
		return de
	}
	if ctx.Err() != nil {
		return fmt.Errorf("webhook.deliver: %s %s: %w", method, origin, context.Cause(ctx))
	}
	if reqCtx.Err() != nil {
		return &webhookError{
			msg: fmt.Sprintf("webhook.deliver: %s %s: no response within %s", method, origin, timeout),
			err: context.DeadlineExceeded,
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	we := &webhookError{permanent: isPermanent(err)}
	msg := err.Error()
	if clean := san().Sanitize(msg); clean != msg {
		// The cause quotes a secret (e.g. a Location header echoing the
		// query): keep only its scrubbed text.
		msg, err = clean, errors.New(clean)
	}
	we.msg, we.err = fmt.Sprintf("webhook.deliver: %s %s: %s", method, origin, msg), err
	return we
}

// checkWebhookRedirect allows WebhookMaxRedirects http or https redirects.
// The destination itself is checked when it is dialled. It drops the
// Referer (which would carry the previous URL's query) and, when the
// redirect leaves the original host or goes from https to http, every
// header of the payload except Idempotency-Key and Content-Type: net/http
// would forward custom headers such as X-Api-Key to any host.
func checkWebhookRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > WebhookMaxRedirects {
		return errTooManyRedirects
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return &WebhookDestinationError{Host: req.URL.Hostname(), Reason: fmt.Sprintf("redirect to scheme %q", clip(s))}
	}
	if req.URL.Hostname() == "" {
		return &WebhookDestinationError{Reason: "redirect to a URL without a host"}
	}
	req.Header.Del("Referer")
	first := via[0].URL
	if !strings.EqualFold(first.Hostname(), req.URL.Hostname()) || (first.Scheme == "https" && req.URL.Scheme == "http") {
		for name := range via[0].Header {
			if name != "Idempotency-Key" && name != "Content-Type" {
				req.Header.Del(name)
			}
		}
		req.Header.Set("User-Agent", webhookUserAgent)
	}
	return nil
}

var errTooManyRedirects = &webhookError{
	msg:       fmt.Sprintf("more than %d redirects", WebhookMaxRedirects),
	permanent: true,
}

// WebhookStatusError reports a delivery the receiver answered with a status
// other than 2xx. It is permanent (the job is archived) unless the status is
// 408, 429 or 5xx. When a retryable answer carried a Retry-After header, the
// handler returns it wrapped by job.RetryAfter, so
// resilience.RetryAfterHint reads the delay; errors.As still finds it.
type WebhookStatusError struct {
	// Method is the request's method.
	Method string
	// Origin is the URL's scheme and host, without userinfo, path or query
	// (which often carry a token).
	Origin string
	// StatusCode is the answer's status code.
	StatusCode int
	// Excerpt is the start of the response body on one line, at most
	// WebhookExcerptBytes long, with any request header value blanked.
	Excerpt string
	// RetryAfter is the delay asked for by a Retry-After header; zero when
	// there was none or the status is permanent.
	RetryAfter time.Duration
}

func (e *WebhookStatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "webhook.deliver: %s %s: status %d", e.Method, e.Origin, e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Excerpt != "" {
		b.WriteString(": " + e.Excerpt)
	}
	return b.String()
}

// Permanent reports whether the status makes retrying pointless: true for
// anything but 408, 429 and 5xx.
func (e *WebhookStatusError) Permanent() bool {
	return e.StatusCode != http.StatusRequestTimeout && e.StatusCode != http.StatusTooManyRequests && e.StatusCode < 500
}

// webhookError is a failed delivery without an answer: a network error, a
// timeout or too many redirects. Its message is built when it is created,
// with the URL left out and secrets blanked.
type webhookError struct {
	msg       string
	err       error
	permanent bool
}

func (e *webhookError) Error() string   { return e.msg }
func (e *webhookError) Unwrap() error   { return e.err }
func (e *webhookError) Permanent() bool { return e.permanent }

func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// webhookOrigin returns "scheme://host[:port]", the only part of a URL that
// errors show.
func webhookOrigin(u *url.URL) string {
	return u.Scheme + "://" + u.Host
}

// webhookDependency returns the breaker dependency of rawURL: its host,
// lowercased, without a trailing dot, with the port only when it is not the
// scheme's default.
func webhookDependency(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return ""
	}
	switch port := u.Port(); {
	case port == "", u.Scheme == "http" && port == "80", u.Scheme == "https" && port == "443":
		return host
	default:
		return net.JoinHostPort(host, port)
	}
}
