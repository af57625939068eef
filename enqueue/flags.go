package enqueue

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// flags holds the parsed command line.
type flags struct {
	fs *flag.FlagSet

	file, payloadFile, redisURL, output  string
	onComplete, onCompletePayload        string // --file as one batch, batch.go
	failFast, dryRun, wait, allowUnknown bool
	schedules                            bool // list $WORKER_SCHEDULES, schedules.go
	status                               bool // print the fleet's state, status.go
	version                              bool
	waitTimeout                          time.Duration
	maxPayload                           int
	raw                                  rawOptions

	args []string // positional: TYPE [PAYLOAD_JSON]
}

// errHelp asks Main to print the help and exit 0.
var errHelp = errors.New("help requested")

// optionalString is a string flag that remembers whether it was set.
type optionalString struct{ p **string }

func (o optionalString) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return **o.p
}

func (o optionalString) Set(s string) error { *o.p = &s; return nil }

// optionalInt is an int flag that remembers whether it was set.
type optionalInt struct{ p **int }

func (o optionalInt) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return strconv.Itoa(**o.p)
}

func (o optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not an integer")
	}
	*o.p = &n
	return nil
}

func newFlags(cfg Config) *flags {
	f := &flags{fs: flag.NewFlagSet(cfg.Name, flag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.file, "file", "", "enqueue one job per line of this JSON Lines `file` (- for stdin)")
	fs.BoolVar(&f.failFast, "fail-fast", false, "with --file: stop at the first invalid line and enqueue nothing")
	fs.StringVar(&f.onComplete, "on-complete", "", "with --file: enqueue the lines as one batch and this job `type` once all of them finished; prints the batch ID")
	fs.StringVar(&f.onCompletePayload, "on-complete-payload", "{}", "with --on-complete: the callback's payload `JSON`")
	fs.StringVar(&f.payloadFile, "payload-file", "", "read the payload from this `file` (- for stdin)")
	fs.Var(optionalString{&f.raw.Queue}, "queue", "queue `name` (default: the job type's queue, else \"default\")")
	fs.Var(optionalInt{&f.raw.MaxRetry}, "max-retry", "`n` retries after a failed attempt (default: the job type's, else 25)")
	fs.Var(optionalString{&f.raw.Timeout}, "timeout", "per-attempt `timeout`, whole seconds (see Durations); 0 means none and needs --deadline (default: the job type's, else 30m)")
	fs.Var(optionalString{&f.raw.Deadline}, "deadline", "RFC 3339 `time` after which the task is not run")
	fs.Var(optionalString{&f.raw.ProcessIn}, "process-in", "run after this `duration` (scheduled)")
	fs.Var(optionalString{&f.raw.ProcessAt}, "process-at", "run at this RFC 3339 `time` (scheduled)")
	fs.Var(optionalString{&f.raw.Unique}, "unique", "refuse a duplicate (same queue, type and payload) for this `TTL`, whole seconds, at least 1s")
	fs.Var(optionalString{&f.raw.TaskID}, "task-id", "task `ID` (default: a random UUID); an existing ID is a conflict")
	fs.Var(optionalString{&f.raw.Retention}, "retention", "keep the completed task and its result for this `duration`, whole seconds")
	fs.StringVar(&f.redisURL, "redis-url", "", "Redis `URL` (default $REDIS_URL, else "+RedisURLDefault+")")
	fs.StringVar(&f.output, "output", "text", "output `format`: text or json")
	fs.BoolVar(&f.dryRun, "dry-run", false, "validate and print what would be enqueued; touch nothing")
	fs.BoolVar(&f.wait, "wait", false, "wait until the task completes or is archived; print the job's progress, the outcome and the result or last error")
	fs.DurationVar(&f.waitTimeout, "wait-timeout", 0, "with --wait: give up after this `duration` (0: no limit)")
	fs.BoolVar(&f.allowUnknown, "allow-unknown", false, "accept job types this binary does not know (payload checked as JSON only)")
	fs.IntVar(&f.maxPayload, "max-payload-bytes", cfg.MaxPayloadBytes, "refuse payloads larger than this many `bytes`")
	fs.BoolVar(&f.schedules, "schedules", false, "list the schedules of $"+SchedulesEnv+" with their next run; enqueue nothing")
	fs.BoolVar(&f.status, "status", false, "print why jobs may not run, from Redis alone: shared breakers, dependency limits, schedules, deferred jobs and batches in progress (reads the worker's WORKER_* variables); enqueue nothing")
	fs.BoolVar(&f.version, "version", false, "print the version (module version, commit, Go version) and exit")
	return f
}

// parse parses args. Flags may come before, between and after the
// positional arguments; "--" ends the flags.
func (f *flags) parse(args []string) error {
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return errHelp
			}
			return errors.New(strings.TrimPrefix(err.Error(), "flag provided but not defined: ") + flagHint(err))
		}
		rest := f.fs.Args()
		if len(rest) == 0 {
			return nil
		}
		// flag.Parse consumed a "--" terminator if rest is shorter than
		// what follows the last flag; then everything left is positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			f.args = append(f.args, rest...)
			return nil
		}
		f.args = append(f.args, rest[0])
		args = rest[1:]
	}
}

func flagHint(err error) string {
	if strings.HasPrefix(err.Error(), "flag provided but not defined") {
		return ": unknown flag"
	}
	return ""
}

// check reports flag combinations that make no sense.
func (f *flags) check() error {
	switch {
	case f.output != "text" && f.output != "json":
		return fmt.Errorf("--output %q: want text or json", f.output)
	case f.maxPayload <= 0:
		return fmt.Errorf("--max-payload-bytes must be positive, got %d", f.maxPayload)
	case f.waitTimeout < 0:
		return fmt.Errorf("--wait-timeout must not be negative, got %v", f.waitTimeout)
	case f.waitTimeout > 0 && !f.wait:
		return errors.New("--wait-timeout needs --wait")
	case f.status:
		return f.checkStatus()
	case f.schedules:
		return f.checkSchedules()
	}
	if f.file != "" {
		switch {
		case len(f.args) > 0:
			return fmt.Errorf("--file takes no TYPE or PAYLOAD_JSON arguments, got %q", f.args[0])
		case f.payloadFile != "":
			return errors.New("--file and --payload-file are mutually exclusive")
		case f.onComplete == "" && f.onCompletePayload != "{}":
			return errors.New("--on-complete-payload needs --on-complete")
		case f.wait && f.onComplete == "":
			return errors.New("--wait works with a single job, or with --file and --on-complete")
		case f.wait && f.dryRun:
			return errors.New("--wait and --dry-run are mutually exclusive")
		case f.raw.TaskID != nil:
			return errors.New("--task-id works with a single job; with --file set options.task_id per line")
		}
		return nil
	}
	switch {
	case f.failFast:
		return errors.New("--fail-fast needs --file")
	case f.onComplete != "":
		return errors.New("--on-complete needs --file")
	case f.onCompletePayload != "{}":
		return errors.New("--on-complete-payload needs --on-complete and --file")
	}
	switch {
	case len(f.args) == 0:
		return errors.New("missing TYPE")
	case len(f.args) > 2:
		return fmt.Errorf("too many arguments: want TYPE [PAYLOAD_JSON], got %d", len(f.args))
	case len(f.args) == 2 && f.payloadFile != "":
		return errors.New("PAYLOAD_JSON and --payload-file are mutually exclusive")
	case f.wait && f.dryRun:
		return errors.New("--wait and --dry-run are mutually exclusive")
	}
	return nil
}

const helpHead = `Usage:
  %[1]s [flags] TYPE [PAYLOAD_JSON]
  %[1]s [flags] TYPE --payload-file FILE
  %[1]s [flags] --file JOBS.jsonl
  %[1]s [flags] --file JOBS.jsonl --on-complete TYPE [--on-complete-payload JSON] [--wait]
  %[1]s [--output json] --status
  %[1]s [--output json] --schedules
  %[1]s serve [flags]                  (the HTTP API; see serve --help)

Enqueues one job of type TYPE whose payload is PAYLOAD_JSON (default {}),
or one job per line of a JSON Lines file. Payloads of known job types are
decoded strictly and validated before anything reaches Redis. --schedules
lists the worker's periodic jobs ($WORKER_SCHEDULES) with their next run.
--status prints why jobs may not run, read from Redis alone (exit status
1 when a part could not be read).

Flags may be written with one or two dashes and may follow TYPE; "--" ends
the flags (use it before a payload that starts with "-").

Flags:
`

const helpTail = `
Durations (--timeout, --retention, --unique, --process-in and the same
options in --file lines) are a Go duration such as 90s, 15m or 2h, or a
whole number of seconds such as 90 (so 1 means 1s). asynq stores timeout,
retention and unique in whole seconds: a fraction of a second there is an
error, not rounded.

Bulk input (--file): one JSON object a line, blank lines ignored:
  {"type": "T", "payload": {...}, "options": {"queue": "q", "max_retry": 3,
   "timeout": "30s", "deadline": "RFC 3339", "process_in": "5m",
   "process_at": "RFC 3339", "unique": "1h", "task_id": "id",
   "retention": "24h"}}
"payload" defaults to {} and every option is optional; unknown keys are
errors. Flags set defaults for every line; a line's options override them.
All lines are validated first. With --fail-fast an invalid line stops the
run and nothing is enqueued; without it the valid lines are enqueued in
file order, the invalid ones are reported with their line numbers, and the
exit status is 2. Duplicates (--unique, or a task ID that exists) are
counted in the summary and are not errors.

--wait sets --retention to 1h unless given and polls the task's state.
Text output then prints a line per failed attempt seen ("failed ID in 1.2s
(attempt 1), retrying: ERROR") and the outcome: "completed ID in 512ms"
followed by the result (the bytes the handler wrote, verbatim), "skipped
ID in 12ms (duplicate_done: ...)" when a job with the same dedupe key had
already run (exit status 0), or
"archived ID in 3s after 2 attempts" with the last error on stderr. The
times run from the enqueue to the poll that saw the change.

Exit status:
  0    enqueued (with --wait: completed)
  1    any other error, e.g. Redis unreachable
  2    usage or validation error: nothing enqueued (with --file and without
       --fail-fast: the valid lines were enqueued)
  3    conflict: a unique duplicate, or the task ID already exists
  4    with --wait: the task was archived (failed for good)
  5    with --wait: --wait-timeout passed first; the task stays queued
  130  interrupted (SIGINT): with --wait the task stays queued; with --file
       the summary says how many tasks were enqueued (none while the input
       is still read and checked)
`

func (f *flags) help(w io.Writer, name string, kinds []string) {
	fmt.Fprintf(w, helpHead, name)
	f.fs.SetOutput(w)
	f.fs.PrintDefaults()
	f.fs.SetOutput(io.Discard)
	known := "none (use --allow-unknown)"
	if len(kinds) > 0 {
		known = strings.Join(kinds, ", ")
	}
	fmt.Fprintf(w, "\nKnown job types: %s\n", known)
	fmt.Fprint(w, helpTail)
}
