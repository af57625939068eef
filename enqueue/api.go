package enqueue

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/tracectx"
)

// openapiDoc is the API's contract, served at /v1/openapi.yaml; a test
// checks every answer of the handlers against it.
//
//go:embed openapi.yaml
var openapiDoc []byte

// apiSettings are the limits and timeouts of enqueue serve.
type apiSettings struct {
	maxPayload     int           // bytes of one payload
	maxBody        int64         // bytes of a bulk request's body
	maxLines       int           // jobs in one bulk request
	allowUnknown   bool          // accept types the registry lacks
	requestTimeout time.Duration // a request's Redis work; bulk: bulkTimeout
	bulkTimeout    time.Duration
	idemTTL        time.Duration // how long an idempotent answer is replayed
}

// api is the HTTP API of enqueue serve: thin handlers over the CLI's
// validation (parseLine, validator.newTask, checkLines), its writers
// (asynq's Client for one job, bulkWriter for many) and --wait's reading of
// a task (readTaskInfo).
type api struct {
	cfg      Config
	set      apiSettings
	rdb      redis.UniversalClient
	client   *asynq.Client
	tokens   *tokenSet // nil: no auth (loopback only)
	idem     *idemStore
	log      zerolog.Logger
	tracer   *tracectx.Tracer
	cleanErr func(string) string // sanitizes a task's last error
	mux      *http.ServeMux
	logged   *logThrottle // of api.unavailable

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

// apiHandler serves one route for caller, the scope of the bearer token
// ("local" without tokens).
type apiHandler func(w http.ResponseWriter, r *http.Request, caller string)

// route is one route of the API.
type route struct {
	method, path string
	h            apiHandler
	auth         bool // needs a bearer token when tokens are set
}

func newAPI(cfg Config, set apiSettings, rdb redis.UniversalClient, tokens *tokenSet, redisSecrets []string) *api {
	a := &api{
		cfg: cfg, set: set, rdb: rdb, client: asynq.NewClientFromRedisClient(rdb), tokens: tokens,
		idem: &idemStore{rdb: rdb, ttl: set.idemTTL}, log: cfg.Logger,
		tracer:   tracectx.NewTracer(cfg.TracerProvider, tracerName),
		cleanErr: errorSanitizer(cfg, redisSecrets),
		mux:      http.NewServeMux(),
		logged:   &logThrottle{every: time.Second, now: cfg.now},
	}
	for _, rt := range a.routes() {
		a.mux.HandleFunc(rt.method+" "+rt.path, a.guard(rt))
	}
	return a
}

// routes lists the API's routes; a test checks them against the OpenAPI
// document's paths.
func (a *api) routes() []route {
	return []route{
		{http.MethodPost, "/v1/jobs", a.postJob, true},
		{http.MethodPost, "/v1/jobs:bulk", a.postBulk, true},
		{http.MethodGet, "/v1/jobs/{queue}/{task_id}", a.getJob, true},
		{http.MethodGet, "/v1/openapi.yaml", a.getOpenAPI, false},
		{http.MethodGet, "/healthz", a.getHealthz, false},
		{http.MethodGet, "/readyz", a.getReadyz, false},
	}
}

// guard checks the bearer token of a route that needs one.
func (a *api) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		caller := "local"
		if rt.auth && a.tokens != nil {
			tok, ok := bearer(r.Header.Get("Authorization"))
			if ok {
				caller, ok = a.tokens.match(tok)
			}
			if !ok {
				writeProblem(w, newProblem(http.StatusUnauthorized, "unauthorized",
					"send Authorization: Bearer TOKEN with one of the server's tokens ("+TokensEnv+")"))
				return
			}
		}
		rt.h(w, r, caller)
	}
}

// ServeHTTP answers every request: a route's, or a problem for a path or
// method the API lacks. A panic is a 500 with no detail (logged with its
// stack), never internals in the answer.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.enter() {
		writeProblem(w, newProblem(http.StatusServiceUnavailable, "shutting-down", "the server is shutting down; retry on another instance"))
		return
	}
	defer a.inflight.Done()
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.log.Error().Str("event", "api.failed").Str("method", r.Method).Str("path", r.URL.Path).
				Str("error", a.cleanErr(fmt.Sprint(v))).Bytes("stack", debug.Stack()).Msg("handler panicked")
			if sw.status == 0 {
				writeProblem(sw, newProblem(http.StatusInternalServerError, "internal-error", "the server failed; the failure is logged"))
			}
		}
		a.log.Debug().Str("event", "api.request").Str("method", r.Method).Str("path", r.URL.Path).
			Int("status", sw.status).Int64("duration_ms", time.Since(start).Milliseconds()).Msg("request")
	}()
	if _, pattern := a.mux.Handler(r); pattern == "" {
		a.noRoute(sw, r)
		return
	}
	a.mux.ServeHTTP(sw, r)
}

// enter counts a request in, unless the API has stopped taking them.
func (a *api) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.inflight.Add(1)
	return true
}

// stop stops taking requests and waits for those in flight; their
// contexts end with the server's base context.
func (a *api) stop() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.inflight.Wait()
}

// noRoute answers 405 for a path served with other methods, else 404.
func (a *api) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pattern := a.mux.Handler(r2); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		p := newProblem(http.StatusMethodNotAllowed, "method-not-allowed", fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		p.allow = strings.Join(allow, ", ")
		writeProblem(w, p)
		return
	}
	writeProblem(w, newProblem(http.StatusNotFound, "not-found", "no route "+r.URL.Path+"; see /v1/openapi.yaml"))
}

// statusWriter remembers the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// reply is a handler's answer: a success (status, JSON body, Location), a
// problem, or err, a Redis failure answered 503. The successes of a
// request with an Idempotency-Key are stored and replayed to its retries.
type reply struct {
	status   int
	body     any
	location string
	replayed bool // the answer of an earlier attempt: 200, Idempotent-Replayed
	problem  *problem
	err      error // with problem nil: unavailable; with problem: logged
}

// write writes rep.
func (a *api) write(w http.ResponseWriter, r *http.Request, rep reply) {
	if rep.err != nil {
		a.logUnavailable(r, rep.err)
		if rep.problem == nil {
			rep.problem = unavailable()
		}
	}
	if rep.problem != nil {
		writeProblem(w, rep.problem)
		return
	}
	if rep.location != "" {
		w.Header().Set("Location", rep.location)
	}
	if rep.replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, rep.status, "application/json", rep.body)
}

// logUnavailable logs the Redis failure behind a 503, at most once a
// second with the number of those not logged; a request whose client went
// away is not worth a warning.
func (a *api) logUnavailable(r *http.Request, err error) {
	if r.Context().Err() != nil {
		a.log.Debug().Str("event", "api.unavailable").Str("method", r.Method).Str("path", r.URL.Path).
			Str("error", a.cleanErr(err.Error())).Msg("client gone; Redis failed or did not answer in time")
		return
	}
	ok, suppressed := a.logged.allow()
	if !ok {
		return
	}
	a.log.Warn().Str("event", "api.unavailable").Str("method", r.Method).Str("path", r.URL.Path).
		Str("error", a.cleanErr(err.Error())).Int("suppressed", suppressed).Msg("answered 503: Redis failed or did not answer in time")
}

// idemWait bounds how long a retry waits for the answer of the attempt
// that holds its Idempotency-Key before it is answered 409.
const idemWait = time.Second

// claimMargin is how much longer a claim on an Idempotency-Key lives than
// its request may run, storing its answer included. A claim whose request
// died (or whose Redis call timed out after Redis took it) holds the key,
// and its retries get 409, for that long at most.
const claimMargin = time.Second

// idempotent answers run's reply; with an Idempotency-Key header it runs
// at most once per key, caller and request: the first request claims the
// key, its success is stored for IdempotencyTTL and replayed (200,
// Idempotent-Replayed: true) to the retries, a retry while it runs waits
// up to idemWait for it and is then answered 409 with Retry-After, and a
// reuse of the key for another request is 422. An answer that is not a
// success gives the key up. timeout is the request's own bound.
func (a *api) idempotent(ctx context.Context, w http.ResponseWriter, r *http.Request, caller string, body []byte,
	timeout time.Duration, run func(ctx context.Context, k *idemKey) reply) {
	vals, ok := r.Header["Idempotency-Key"]
	if !ok {
		a.write(w, r, run(ctx, nil))
		return
	}
	if len(vals) != 1 {
		writeProblem(w, newProblem(http.StatusBadRequest, "invalid-idempotency-key", "send one Idempotency-Key header"))
		return
	}
	if err := checkIdempotencyKey(vals[0]); err != nil {
		writeProblem(w, newProblem(http.StatusBadRequest, "invalid-idempotency-key", err.Error()))
		return
	}
	k := newIdemKey(caller, vals[0], fingerprint(r.Method, r.URL.Path, r.URL.RawQuery, body))
	rec, err := a.idem.begin(ctx, k, timeout+a.set.requestTimeout+claimMargin)
	if err != nil {
		// Redis may have taken the claim all the same (a reply lost, a
		// Redis that hung and came back): give it up if it can, without
		// holding the answer.
		a.inflight.Add(1) // counted in: this request is
		go func() {
			defer a.inflight.Done()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.set.requestTimeout)
			defer cancel()
			_ = a.idem.release(rctx, k)
		}()
		a.write(w, r, reply{err: err})
		return
	}
	if rec != nil {
		a.write(w, r, a.replay(ctx, k, rec))
		return
	}
	rep := run(ctx, &k)
	// Store or give up the claim even when the request's time ran out.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.set.requestTimeout)
	defer cancel()
	if rep.problem == nil && rep.err == nil {
		b, _ := json.Marshal(rep.body)
		if err := a.idem.finish(sctx, k, rep.status, b, rep.location); err != nil {
			// The claim expires; a later retry finds the task by its
			// derived ID (idemKey.taskID) instead of enqueueing a copy.
			a.logUnavailable(r, fmt.Errorf("store the answer of Idempotency-Key: %w", err))
		}
	} else if err := a.idem.release(sctx, k); err != nil {
		a.logUnavailable(r, fmt.Errorf("release Idempotency-Key: %w", err))
	}
	a.write(w, r, rep)
}

// replay answers a request whose key another request claimed first.
func (a *api) replay(ctx context.Context, k idemKey, rec *idemRecord) reply {
	end := time.Now().Add(idemWait)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		switch {
		case rec == nil: // the first attempt failed and gave the key up
			return inProgress("the request that held this Idempotency-Key failed; retry it")
		case rec.fp != k.fp:
			return reply{problem: newProblem(http.StatusUnprocessableEntity, "idempotency-key-reused",
				"this Idempotency-Key was used for another request (method, path, query or body differ); use a new key for a new request")}
		case rec.state == idemDone:
			status := rec.status
			if status == http.StatusCreated {
				status = http.StatusOK
			}
			return reply{status: status, body: json.RawMessage(rec.body), location: rec.location, replayed: true}
		case time.Now().After(end):
			return inProgress("a request with this Idempotency-Key is still running; retry after it ends")
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return inProgress("a request with this Idempotency-Key is still running; retry after it ends")
		case <-t.C:
		}
		var err error
		if rec, err = a.idem.get(ctx, k); err != nil {
			return reply{err: err}
		}
	}
}

func inProgress(detail string) reply {
	p := newProblem(http.StatusConflict, "idempotency-in-progress", detail)
	p.retryAfter = time.Second
	return reply{problem: p}
}

// readBody reads a request body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *problem) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var (
		mbe *http.MaxBytesError
		ne  net.Error
	)
	switch {
	case errors.As(err, &mbe):
		return nil, newProblem(http.StatusRequestEntityTooLarge, "payload-too-large", fmt.Sprintf("the request body is over %d bytes", limit))
	case errors.As(err, &ne) && ne.Timeout():
		return nil, newProblem(http.StatusRequestTimeout, "request-timeout", "the request body did not arrive in time")
	case err != nil:
		return nil, newProblem(http.StatusBadRequest, "malformed-json", "reading the request body: "+err.Error())
	}
	return b, nil
}

// traceContext returns ctx with the trace context of the request's
// traceparent, tracestate and baggage headers, read exactly as the CLI
// reads its TRACEPARENT, TRACESTATE and BAGGAGE variables.
func traceContext(ctx context.Context, r *http.Request) context.Context {
	return tracectx.FromEnv(ctx, func(env string) string {
		return r.Header.Get(strings.ToLower(env))
	})
}

func (a *api) getOpenAPI(w http.ResponseWriter, _ *http.Request, _ string) {
	writeBody(w, http.StatusOK, "application/yaml", openapiDoc)
}

// health is the body of /healthz and /readyz.
type health struct {
	Status string `json:"status"`
}

// getHealthz answers 200 while the process serves: liveness.
func (a *api) getHealthz(w http.ResponseWriter, _ *http.Request, _ string) {
	writeJSON(w, http.StatusOK, "application/json", health{"ok"})
}

// readyTimeout bounds /readyz's PING.
const readyTimeout = time.Second

// getReadyz answers 200 when Redis answers a PING within readyTimeout,
// else 503: readiness.
func (a *api) getReadyz(w http.ResponseWriter, r *http.Request, _ string) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		a.write(w, r, reply{err: err})
		return
	}
	writeJSON(w, http.StatusOK, "application/json", health{"ok"})
}
