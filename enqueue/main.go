package enqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/rediserr"
	"github.com/jobrunner/jobrunner/internal/tracectx"
	"github.com/jobrunner/jobrunner/setup"
)

// Main runs the enqueue command with args (without the program name) and
// returns its exit status; see the package documentation. It reads
// payloads and bulk input from stdin when asked with "-", writes results
// to stdout and errors, one line each, to stderr. getenv reads REDIS_URL;
// nil means no environment. Cancelling ctx (e.g. on SIGINT) stops a bulk
// run between batches and a --wait.
//
// Note that Main leaves go-redis's process-wide logger alone, which by
// default prints dial failures to stderr as extra plain-text lines: route
// it from main with [setup.RouteRedisLogs], as cmd/enqueue does.
func Main(ctx context.Context, cfg Config, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	cfg = cfg.withDefaults()
	c := &cli{cfg: cfg, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv,
		tracer: tracectx.NewTracer(cfg.TracerProvider, tracerName)}
	if c.getenv == nil {
		c.getenv = func(string) string { return "" }
	}
	if err := cfg.validate(); err != nil {
		return c.fail(ExitError, err)
	}
	if len(args) > 0 && args[0] == "serve" {
		return c.serve(ctx, args[1:])
	}
	return c.run(ctx, args)
}

// cli is one run of Main.
type cli struct {
	cfg            Config
	f              *flags
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	tracer         *tracectx.Tracer
	redisSecrets   []string // the passwords of the Redis URL, set by connect
}

// exitError carries an exit status with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{ExitUsage, fmt.Errorf(format, args...)}
}

// fail prints err as one line and returns code.
func (c *cli) fail(code int, err error) int {
	fmt.Fprintf(c.stderr, "%s: %s\n", c.cfg.Name, oneLine(err.Error()))
	return code
}

// oneLine folds s, an error text, onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// failErr prints err and returns its exit status: an *exitError's code, a
// payload error's ExitUsage, else ExitError.
func (c *cli) failErr(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return c.fail(ee.code, err)
	}
	return c.fail(ExitError, err)
}

func (c *cli) run(ctx context.Context, args []string) int {
	c.f = newFlags(c.cfg)
	if err := c.f.parse(args); err != nil {
		if errors.Is(err, errHelp) {
			c.f.help(c.stdout, c.cfg.Name, c.cfg.Registry.Types())
			return ExitOK
		}
		return c.fail(ExitUsage, fmt.Errorf("%v (see --help)", err))
	}
	if c.f.version {
		fmt.Fprintln(c.stdout, c.cfg.Name, setup.Version())
		return ExitOK
	}
	if err := c.f.check(); err != nil {
		return c.fail(ExitUsage, fmt.Errorf("%v (see --help)", err))
	}
	if c.f.schedules {
		return c.listSchedules()
	}
	if c.f.status {
		return c.printStatus(ctx)
	}
	opts, err := c.f.raw.parse(flagNames)
	if err != nil {
		return c.fail(ExitUsage, err)
	}
	if c.f.file != "" {
		return c.bulk(ctx, opts)
	}
	return c.single(ctx, opts)
}

func (c *cli) validator() validator {
	return validator{reg: c.cfg.Registry, check: c.cfg.Check, allowUnknown: c.f.allowUnknown, maxPayload: c.f.maxPayload, now: c.cfg.now()}
}

// open returns the named file, or stdin for "-".
func (c *cli) open(name string) (io.Reader, func(), error) {
	if name == "-" {
		return c.stdin, func() {}, nil
	}
	fh, err := os.Open(name)
	if err != nil {
		return nil, nil, usageErr("%v", err)
	}
	return fh, func() { fh.Close() }, nil
}

// failConnect reports a failed connect: an interruption (exit 130) when
// ctx was cancelled meanwhile, else connect's error.
func (c *cli) failConnect(ctx context.Context, err error) int {
	if ctx.Err() != nil {
		return c.fail(ExitInterrupted, errors.New("interrupted while connecting to Redis: nothing enqueued"))
	}
	return c.failErr(err)
}

// connect opens a Redis client for --redis-url, $REDIS_URL or the default
// and checks that it answers within DialTimeout.
func (c *cli) connect(ctx context.Context) (redis.UniversalClient, error) {
	raw, from := c.f.redisURL, "--redis-url"
	if raw == "" {
		raw, from = c.getenv("REDIS_URL"), "REDIS_URL"
	}
	if raw == "" {
		raw, from = c.cfg.RedisURL, "redis URL"
	}
	opts, err := setup.ParseRedisURL(raw)
	if err != nil {
		return nil, usageErr("%s %s: %v", from, setup.RedactURL(raw), err)
	}
	c.redisSecrets = setup.RedisSecrets(opts)
	opts.DialTimeout = c.cfg.DialTimeout
	opts.DialerRetries = 1 // fail fast: one dial per connection
	opts.MaxRetries = -1   // and one attempt per command
	rdb := setup.NewRedisClient(opts)
	pctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			// A Redis that accepts connections and answers nothing (a
			// paused host, a partition that drops packets) is not down.
			return nil, fmt.Errorf("redis %s not answering: no answer within %v (paused, overloaded or cut off)", setup.RedactURL(raw), c.cfg.DialTimeout)
		}
		if rediserr.IsAuth(err) {
			return nil, fmt.Errorf("redis %s: authentication failed (check the user and password of the URL): %v", setup.RedactURL(raw), err)
		}
		return nil, fmt.Errorf("redis %s unreachable: %v", setup.RedactURL(raw), err)
	}
	return rdb, nil
}
