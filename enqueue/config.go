package enqueue

import (
	"cmp"
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/term"

	"github.com/jobrunner/jobrunner/job"
)

// Defaults for the fields of [Config].
const (
	// NameDefault is the program name used in usage and error messages.
	NameDefault = "enqueue"
	// RedisURLDefault is the Redis URL used when neither --redis-url nor
	// REDIS_URL is set.
	RedisURLDefault = "redis://127.0.0.1:6379"
	// MaxPayloadBytesDefault is the default of --max-payload-bytes: 1 MiB.
	MaxPayloadBytesDefault = 1 << 20
	// DialTimeoutDefault bounds connecting to Redis and the first PING, so
	// an unreachable server fails fast.
	DialTimeoutDefault = 3 * time.Second
	// BatchSizeDefault is how many tasks bulk mode writes per pipeline.
	BatchSizeDefault = 1000
	// WaitRetentionDefault is the retention --wait sets when --retention is
	// not given, so that the result can still be read after completion.
	WaitRetentionDefault = time.Hour
)

// Exit statuses of [Main].
const (
	// ExitOK: the task was enqueued (with --wait: it completed).
	ExitOK = 0
	// ExitError: any other error, e.g. Redis unreachable.
	ExitError = 1
	// ExitUsage: a usage or validation error; nothing was enqueued, except
	// in bulk mode without --fail-fast, where the valid lines were.
	ExitUsage = 2
	// ExitConflict: a unique duplicate or a task ID that already exists.
	ExitConflict = 3
	// ExitArchived: with --wait, the task was archived (it failed for good).
	ExitArchived = 4
	// ExitWaitTimeout: with --wait, --wait-timeout passed first; the task
	// stays queued.
	ExitWaitTimeout = 5
	// ExitInterrupted: Main's context was cancelled (SIGINT or SIGTERM in
	// cmd/enqueue) during a --wait, which leaves the task queued, or
	// during a bulk run, whose summary says how many tasks were written
	// (none while the input is still read and checked).
	// 130 is the shell's code for a process ended by SIGINT.
	ExitInterrupted = 130
)

// Config configures [Main]. The zero value is valid: a CLI that knows no
// job types and so only enqueues with --allow-unknown.
type Config struct {
	// Registry holds the job types the binary knows; their payloads are
	// decoded strictly and validated before anything reaches Redis, and
	// their queue, timeout and retry budget are the defaults of the task
	// options. Nil means an empty registry.
	Registry *job.Registry

	// Name is the program name in usage and error messages. Defaults to
	// "enqueue".
	Name string

	// RedisURL is the Redis URL used when neither --redis-url nor the
	// REDIS_URL environment variable is set. Defaults to
	// "redis://127.0.0.1:6379".
	RedisURL string

	// MaxPayloadBytes is the default of --max-payload-bytes. Defaults to
	// 1 MiB.
	MaxPayloadBytes int

	// DialTimeout bounds connecting to Redis and the first PING. Defaults
	// to 3s.
	DialTimeout time.Duration

	// BatchSize is how many tasks bulk mode writes per Redis pipeline.
	// Defaults to 1000.
	BatchSize int

	// Check, when set, is called with each task of a known type and its
	// decoded payload (the job's P) after the job's own validation and
	// before anything reaches Redis, concurrently in bulk mode; an error
	// refuses the task like an invalid payload (exit status 2). cmd/enqueue
	// uses it to refuse webhook destinations the worker would refuse. Nil
	// means no check.
	Check func(ctx context.Context, typ string, payload any) error

	// TracerProvider, when tracing is on, makes a producer span for each
	// run that enqueues ("enqueue TYPE", or "enqueue batch" for --file),
	// whose context the tasks carry in their headers. Nil means the
	// global provider, a no-op until the program sets one; cmd/enqueue
	// sets one when OTEL_EXPORTER_OTLP_ENDPOINT is set. Whatever the
	// provider, a trace context in the TRACEPARENT environment variable is
	// passed on. Defaults to the global provider.
	TracerProvider trace.TracerProvider

	// Sanitizer adds rules to those that blank secrets in the error texts
	// --wait prints (see job.Sanitizer); the passwords of the Redis URL in
	// use are added to its Secrets. cmd/enqueue adds the values of its
	// OTLP headers. The zero value adds nothing.
	Sanitizer job.SanitizerConfig

	// Logger receives the log lines of enqueue serve (JSON, zerolog): the
	// API's start and stop, the Redis failures behind its 503 answers,
	// and one debug line per request. The zero value logs nothing; the
	// command line's errors go to stderr either way.
	Logger zerolog.Logger

	// Test hooks; nil means the real thing.
	now        func() time.Time
	isTerminal func(w io.Writer) bool
	pollMax    time.Duration
}

func (c Config) withDefaults() Config {
	c.Name = cmp.Or(c.Name, NameDefault)
	c.RedisURL = cmp.Or(c.RedisURL, RedisURLDefault)
	c.MaxPayloadBytes = cmp.Or(c.MaxPayloadBytes, MaxPayloadBytesDefault)
	c.DialTimeout = cmp.Or(c.DialTimeout, DialTimeoutDefault)
	c.BatchSize = cmp.Or(c.BatchSize, BatchSizeDefault)
	c.pollMax = cmp.Or(c.pollMax, time.Second)
	if c.Registry == nil {
		c.Registry = job.NewRegistry()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.isTerminal == nil {
		c.isTerminal = isTerminal
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.MaxPayloadBytes < 0:
		return errors.New("Config.MaxPayloadBytes is negative")
	case c.DialTimeout < 0:
		return errors.New("Config.DialTimeout is negative")
	case c.BatchSize < 0:
		return errors.New("Config.BatchSize is negative")
	}
	return nil
}

// isTerminal reports whether w is a terminal, for the progress bar.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
