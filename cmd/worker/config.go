package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jobrunner/jobrunner/internal/fleet"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
	"github.com/jobrunner/jobrunner/schedule"
	"github.com/jobrunner/jobrunner/setup"
)

// config is the worker's configuration, from flags, then environment
// variables, then defaults.
type config struct {
	RedisURL           string // "" means 127.0.0.1:6379 or an embedded Redis
	Concurrency        int
	Queues             map[string]int
	ShutdownTimeout    time.Duration
	HTTPAddr           string
	PollInterval       time.Duration
	LogLevel           string
	LogFormat          string
	WebhookDenyPrivate bool
	RetryBackoff       func(retried int, err error) time.Duration
	MaxDeferral        time.Duration
	// DedupeBuckets and DedupeBucketsBefore as runner.Config has them
	// (WORKER_DEDUPE_BUCKETS 0 is -1 here: a key per record).
	DedupeBuckets       int
	DedupeBucketsBefore int
	Limits              map[string]runner.Limit
	SharedBreakers      []string
	Schedules           []schedule.Schedule // WORKER_SCHEDULES, compiled against the built-in jobs
	// InKubernetes is set when KUBERNETES_SERVICE_HOST is: the embedded
	// Redis fallback is refused there.
	InKubernetes bool
	// Secrets are blanked in every error text the worker lets out:
	// REDIS_URL's passwords and the OTLP header values (workerSecrets).
	Secrets []string
}

// concurrencyMax bounds WORKER_CONCURRENCY. Each slot is a goroutine with
// its own Redis connections in use at peak (asynq's pool, lock and dedupe
// scripts), so a value far above this is a typo, not a tuning: it would
// exhaust Redis's maxclients (10000 by default) long before it helped.
const concurrencyMax = 10000

// bucketsMax bounds WORKER_DEDUPE_BUCKETS: 100 million buckets hold the
// records of a million jobs a second over an hour; more is a typo.
const bucketsMax = 100_000_000

// setting is one configuration value with its variable and flag names.
type setting struct {
	env, flag, def, usage string
	parse                 func(v string, c *config) error
}

var settings = []setting{
	{"REDIS_URL", "redis-url", "", "Redis URL (redis://, rediss://, redis-sentinel://, rediss-sentinel://, redis-cluster://); empty: 127.0.0.1:6379, else an embedded in-memory Redis",
		func(v string, c *config) error {
			if v != "" {
				if _, err := setup.ParseRedisURL(v); err != nil {
					return err
				}
			}
			c.RedisURL = v
			return nil
		}},
	{"WORKER_CONCURRENCY", "concurrency", "10", fmt.Sprintf("jobs run at once, 1 to %d", concurrencyMax),
		func(v string, c *config) (err error) { c.Concurrency, err = parseInt(v, 1, concurrencyMax); return err }},
	{"WORKER_QUEUES", "queues", "default=1", "queues and priorities, e.g. critical=6,default=3,low=1",
		func(v string, c *config) (err error) { c.Queues, err = fleet.ParseQueues(v); return err }},
	{"WORKER_SHUTDOWN_TIMEOUT", "shutdown-timeout", "25s", "how long a drain lets in-flight jobs finish",
		func(v string, c *config) (err error) { c.ShutdownTimeout, err = parseDuration(v, false); return err }},
	{"WORKER_HTTP_ADDR", "http-addr", ":9090", "address of /healthz, /readyz, /metrics and /status",
		func(v string, c *config) error {
			if !strings.Contains(v, ":") {
				return errors.New("want host:port or :port")
			}
			c.HTTPAddr = v
			return nil
		}},
	{"WORKER_RETRY_SCHEDULE", "retry-schedule", "long", "job retries: long (25 retries over about three weeks) or short (about ten minutes)",
		func(v string, c *config) error {
			switch v {
			case "long":
				c.RetryBackoff = job.RetryLong
			case "short":
				c.RetryBackoff = job.RetryShort
			default:
				return errors.New("want long or short")
			}
			return nil
		}},
	{"WORKER_MAX_DEFERRAL", "max-deferral", runner.MaxDeferralDefault.String(), "how long a job may keep being deferred without running before it is archived (deferred_too_long)",
		func(v string, c *config) (err error) { c.MaxDeferral, err = parseDuration(v, false); return err }},
	{"WORKER_DEDUPE_BUCKETS", "dedupe-buckets", "4096", "hashes holding completed dedupe records: about jobs per dedupe window / 33 (docs/capacity.md); 0 keeps a key per record",
		func(v string, c *config) (err error) {
			c.DedupeBuckets, err = parseInt(v, 0, bucketsMax)
			if c.DedupeBuckets == 0 {
				c.DedupeBuckets = -1
			}
			return err
		}},
	{"WORKER_DEDUPE_BUCKETS_BEFORE", "dedupe-buckets-before", "0", "the previous WORKER_DEDUPE_BUCKETS, for one dedupe window after a change: records are looked for in both",
		func(v string, c *config) (err error) {
			c.DedupeBucketsBefore, err = parseInt(v, 0, bucketsMax)
			return err
		}},
	{"WORKER_DEPENDENCY_LIMITS", "dependency-limits", "", "per-dependency limits across replicas, e.g. payment-api=concurrency:10,rate:100/s;hooks.example.com=rate:5/s,burst:5",
		func(v string, c *config) error {
			limits, err := fleet.ParseLimits(v)
			c.Limits = make(map[string]runner.Limit, len(limits))
			for dep, l := range limits {
				c.Limits[dep] = runner.Limit{Concurrency: l.Concurrency, Rate: runner.Rate(l.Rate)}
			}
			return err
		}},
	{"WORKER_SHARED_BREAKERS", "shared-breakers", "", "dependencies whose circuit breaker all replicas share through Redis, e.g. payment-api,hooks.example.com, or * for all",
		func(v string, c *config) (err error) { c.SharedBreakers, err = fleet.ParseShared(v); return err }},
	{"WORKER_POLL_INTERVAL", "poll-interval", runner.PollIntervalDefault.String(), fmt.Sprintf("how often idle queues are polled, at least %v", runner.PollIntervalMin),
		func(v string, c *config) (err error) {
			if c.PollInterval, err = parseDuration(v, false); err != nil {
				return err
			}
			if c.PollInterval < runner.PollIntervalMin {
				return fmt.Errorf("want at least %v (each poll of an idle worker is a Redis script per queue; asynq's default is 1s)", runner.PollIntervalMin)
			}
			return nil
		}},
	{"LOG_LEVEL", "log-level", "info", "trace, debug, info, warn or error",
		func(v string, c *config) error {
			if _, err := setup.NewLogger(io.Discard, v, ""); err != nil {
				return errors.New("want trace, debug, info, warn or error")
			}
			c.LogLevel = v
			return nil
		}},
	{"LOG_FORMAT", "log-format", "json", "json or console",
		func(v string, c *config) error {
			if v != "json" && v != "console" {
				return errors.New("want json or console")
			}
			c.LogFormat = v
			return nil
		}},
	{"WEBHOOK_DENY_PRIVATE", "webhook-deny-private", "false", "refuse webhook destinations on loopback and private ranges",
		func(v string, c *config) (err error) {
			c.WebhookDenyPrivate, err = strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			return nil
		}},
	// Last: its payloads are checked by the job definitions, which
	// depend on the settings above.
	{"WORKER_SCHEDULES", "schedules", "", "periodic jobs, one a line: <cron spec> <type> <JSON payload> [name=NAME] [catch_up=N] [no_overlap]",
		func(v string, c *config) (err error) { c.Schedules, err = parseSchedules(v, *c); return err }},
}

// configError is a bad configuration value: exit status 2.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// errVersion is loadConfig's answer to -version.
var errVersion = errors.New("version requested")

// loadConfig reads args and the environment. -h gives flag.ErrHelp,
// -version errVersion.
func loadConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(out)
	vals := make(map[string]*string, len(settings))
	for _, s := range settings {
		vals[s.flag] = fs.String(s.flag, "", fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def))
	}
	version := fs.Bool("version", false, "print the version (module version, commit, Go version) and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, err
		}
		return config{}, &configError{err.Error()}
	}
	if *version {
		return config{}, errVersion
	}
	if fs.NArg() > 0 {
		return config{}, &configError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var c config
	for _, s := range settings {
		v, src := s.def, ""
		switch {
		case set[s.flag]:
			v, src = *vals[s.flag], "-"+s.flag
		case getenv(s.env) != "":
			v, src = getenv(s.env), s.env
		}
		if err := s.parse(strings.TrimSpace(v), &c); err != nil {
			if src == "" {
				src = s.env
			}
			var le *schedule.LineError
			if errors.As(err, &le) {
				// A list: name the line, not the whole value.
				return config{}, &configError{fmt.Sprintf("%s %v", src, le)}
			}
			return config{}, &configError{fmt.Sprintf("%s=%q: %v", src, redactIf(s.env, v), err)}
		}
	}
	c.InKubernetes = getenv("KUBERNETES_SERVICE_HOST") != ""
	return c, nil
}

func redactIf(env, v string) string {
	if env == "REDIS_URL" {
		return setup.RedactURL(v)
	}
	return v
}

// parseInt parses an integer from lo to hi.
func parseInt(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want an integer from %d to %d", lo, hi)
	}
	return n, nil
}

func parseDuration(v string, zeroOK bool) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || (d == 0 && !zeroOK) {
		return 0, errors.New("want a positive duration such as 500ms, 25s or 1m")
	}
	return d, nil
}
