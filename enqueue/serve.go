package enqueue

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/setup"
)

// Defaults of enqueue serve.
const (
	// APIAddrEnv names the environment variable that sets --addr.
	APIAddrEnv = "ENQUEUE_API_ADDR"
	// APIAddrDefault is where enqueue serve listens without --addr or
	// ENQUEUE_API_ADDR: loopback only.
	APIAddrDefault = "127.0.0.1:8080"
	// APIRequestTimeoutDefault bounds the Redis work of one request (a job
	// enqueued, a task read): past it the answer is 503.
	APIRequestTimeoutDefault = 5 * time.Second
	// APIBulkTimeoutDefault bounds the Redis work of one bulk request.
	APIBulkTimeoutDefault = 30 * time.Second
	// APIMaxBodyBytesDefault caps a bulk request's body: 16 MiB.
	APIMaxBodyBytesDefault = 16 << 20
	// APIMaxBulkJobsDefault caps the jobs of one bulk request, and so the
	// size of the answer stored for its Idempotency-Key.
	APIMaxBulkJobsDefault = 10000
	// APIShutdownTimeoutDefault is how long a SIGTERM lets the requests
	// in flight finish before their contexts are cancelled.
	APIShutdownTimeoutDefault = 10 * time.Second
)

// Timeouts of the HTTP server itself.
const (
	// readHeaderTimeout bounds reading a request's headers (slowloris).
	readHeaderTimeout = 5 * time.Second
	// readTimeout bounds reading a whole request, a bulk body included.
	readTimeout = 30 * time.Second
	// idleTimeout closes a keep-alive connection idle this long.
	idleTimeout = 120 * time.Second
	// maxHeaderBytes caps a request's headers.
	maxHeaderBytes = 64 << 10
	// writeMargin is what a response may take to write beyond the
	// request's reading and its Redis work.
	writeMargin = 5 * time.Second
)

// serveFlags is the command line of enqueue serve.
type serveFlags struct {
	fs                                             *flag.FlagSet
	addr, redisURL                                 string
	maxPayload, maxLines                           int
	maxBody                                        int64
	allowUnknown                                   bool
	requestTimeout, bulkTimeout, idemTTL, shutdown time.Duration
}

func newServeFlags(cfg Config) *serveFlags {
	f := &serveFlags{fs: flag.NewFlagSet(cfg.Name+" serve", flag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.addr, "addr", "", "listen on this `host:port` (default $"+APIAddrEnv+", else "+APIAddrDefault+"); beyond loopback only with $"+TokensEnv)
	fs.StringVar(&f.redisURL, "redis-url", "", "Redis `URL` (default $REDIS_URL, else "+RedisURLDefault+")")
	fs.IntVar(&f.maxPayload, "max-payload-bytes", cfg.MaxPayloadBytes, "refuse payloads larger than this many `bytes` (413)")
	fs.Int64Var(&f.maxBody, "max-body-bytes", APIMaxBodyBytesDefault, "refuse bulk request bodies larger than this many `bytes` (413)")
	fs.IntVar(&f.maxLines, "max-bulk-jobs", APIMaxBulkJobsDefault, "refuse bulk requests of more than `n` jobs (413)")
	fs.BoolVar(&f.allowUnknown, "allow-unknown", false, "accept job types this binary does not know (payload checked as JSON only)")
	fs.DurationVar(&f.requestTimeout, "request-timeout", APIRequestTimeoutDefault, "bound the Redis work of a request to this `duration`; then 503")
	fs.DurationVar(&f.bulkTimeout, "bulk-timeout", APIBulkTimeoutDefault, "bound the Redis work of a bulk request to this `duration`; then 503")
	fs.DurationVar(&f.idemTTL, "idempotency-ttl", IdempotencyTTLDefault, "replay the answer to an Idempotency-Key for this `duration`")
	fs.DurationVar(&f.shutdown, "shutdown-timeout", APIShutdownTimeoutDefault, "on SIGTERM, let requests in flight finish for this `duration`")
	return f
}

func (f *serveFlags) check() error {
	switch {
	case f.maxPayload <= 0:
		return fmt.Errorf("--max-payload-bytes must be positive, got %d", f.maxPayload)
	case f.maxBody <= 0:
		return fmt.Errorf("--max-body-bytes must be positive, got %d", f.maxBody)
	case f.maxLines <= 0:
		return fmt.Errorf("--max-bulk-jobs must be positive, got %d", f.maxLines)
	case f.requestTimeout <= 0 || f.bulkTimeout <= 0 || f.shutdown <= 0:
		return errors.New("--request-timeout, --bulk-timeout and --shutdown-timeout must be positive")
	case f.idemTTL < time.Second:
		return fmt.Errorf("--idempotency-ttl must be at least 1s, got %v", f.idemTTL)
	case len(f.fs.Args()) > 0:
		return fmt.Errorf("serve takes no arguments, got %q", f.fs.Arg(0))
	}
	return nil
}

const serveHelpHead = `Usage:
  %[1]s serve [flags]

Serves the HTTP API: POST /v1/jobs, POST /v1/jobs:bulk and
GET /v1/jobs/{queue}/{task_id}, with the CLI's validation, bearer tokens
from $%[2]s (comma-separated, each at least 16 characters) and
Idempotency-Key for safe retries. The OpenAPI document is at
/v1/openapi.yaml; docs/api.md describes the API. Without tokens the server
listens on loopback only. SIGTERM or SIGINT stops it gracefully.

Flags:
`

const serveHelpTail = `
Exit status: 0 after a graceful stop; 1 when the address cannot be
listened on; 2 for a usage error, a bad token, or an address beyond
loopback without tokens.
`

// serve runs enqueue serve until ctx ends (SIGTERM or SIGINT in
// cmd/enqueue), then stops gracefully.
func (c *cli) serve(ctx context.Context, args []string) int {
	f := newServeFlags(c.cfg)
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(c.stdout, serveHelpHead, c.cfg.Name, TokensEnv)
			f.fs.SetOutput(c.stdout)
			f.fs.PrintDefaults()
			fmt.Fprint(c.stdout, serveHelpTail)
			return ExitOK
		}
		return c.fail(ExitUsage, fmt.Errorf("serve: %v (see serve --help)", err))
	}
	if err := f.check(); err != nil {
		return c.fail(ExitUsage, fmt.Errorf("serve: %v (see serve --help)", err))
	}
	addr, from := f.addr, "--addr"
	if addr == "" {
		addr, from = c.getenv(APIAddrEnv), APIAddrEnv
	}
	if addr == "" {
		addr = APIAddrDefault
	}
	tokens, err := parseTokens(c.getenv(TokensEnv))
	if err != nil {
		return c.fail(ExitUsage, fmt.Errorf("serve: %v", err))
	}
	if tokens == nil && !loopback(addr) {
		return c.fail(ExitUsage, fmt.Errorf("serve: %s %s listens beyond loopback and %s is empty: set bearer tokens, or listen on 127.0.0.1", from, addr, TokensEnv))
	}
	rdb, secrets, err := c.serveRedis(f.redisURL)
	if err != nil {
		return c.failErr(err)
	}
	defer rdb.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return c.fail(ExitError, fmt.Errorf("serve: %v", err))
	}
	a := newAPI(c.cfg, apiSettings{maxPayload: f.maxPayload, maxBody: f.maxBody, maxLines: f.maxLines, allowUnknown: f.allowUnknown,
		requestTimeout: f.requestTimeout, bulkTimeout: f.bulkTimeout, idemTTL: f.idemTTL}, rdb, tokens, secrets)
	return a.run(ctx, ln, f.shutdown)
}

// run serves on ln until ctx ends, then stops: no new connections, the
// requests in flight get up to shutdown to finish, then their contexts
// are cancelled (their Redis calls end at once) and they are waited for.
func (a *api) run(ctx context.Context, ln net.Listener, shutdown time.Duration) int {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      readTimeout + max(a.set.requestTimeout, a.set.bulkTimeout) + a.set.requestTimeout + writeMargin,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	a.log.Info().Str("event", "api.listening").Str("addr", ln.Addr().String()).Bool("auth", a.tokens != nil).Msg("HTTP API listening")
	pctx, cancelPing := context.WithTimeout(ctx, readyTimeout)
	err := a.rdb.Ping(pctx).Err()
	cancelPing()
	if err != nil && ctx.Err() == nil {
		a.log.Warn().Str("event", "api.unavailable").Str("error", a.cleanErr(err.Error())).Msg("Redis does not answer yet; requests get 503 until it does")
	}
	code := ExitOK
	select {
	case <-ctx.Done():
	case err := <-served:
		a.log.Error().Str("event", "api.failed").Str("error", err.Error()).Msg("HTTP server stopped")
		code = ExitError
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdown)
	defer cancel()
	clean := srv.Shutdown(sctx) == nil
	if !clean {
		cancelBase()
		srv.Close()
	}
	a.stop()
	a.log.Info().Str("event", "api.stopped").Bool("clean", clean).Msg("HTTP API stopped")
	return code
}

// serveRedis opens the Redis client of the server: each command is tried
// once (a retry of a write whose reply was lost would report our own task
// as a conflict; the API's clients retry with their Idempotency-Key
// instead) and ends by its request's deadline.
func (c *cli) serveRedis(flagURL string) (redis.UniversalClient, []string, error) {
	raw, from := flagURL, "--redis-url"
	if raw == "" {
		raw, from = c.getenv("REDIS_URL"), "REDIS_URL"
	}
	if raw == "" {
		raw, from = c.cfg.RedisURL, "redis URL"
	}
	opts, err := setup.ParseRedisURL(raw)
	if err != nil {
		return nil, nil, usageErr("serve: %s %s: %v", from, setup.RedactURL(raw), err)
	}
	return newServeClient(opts, c.cfg.DialTimeout), setup.RedisSecrets(opts), nil
}

// newServeClient returns the server's client for opts (see serveRedis).
func newServeClient(opts *redis.UniversalOptions, dialTimeout time.Duration) redis.UniversalClient {
	o := *opts
	o.DialTimeout = dialTimeout
	o.DialerRetries = 1
	o.MaxRetries = -1
	return setup.NewRedisClient(&o)
}

// loopback reports whether addr's host is a loopback address or
// "localhost"; an empty host listens on every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
