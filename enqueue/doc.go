// Package enqueue is the enqueue command as a library: it validates jobs
// against a [job.Registry] and enqueues them on asynq, one from the command
// line or many from a JSON Lines file, so that users with their own job
// types build the same binary as cmd/enqueue in a few lines:
//
//	func main() {
//		reg := job.NewRegistry()
//		if err := reg.Register(myjobs.SendEmail, myjobs.Resize); err != nil {
//			panic(err)
//		}
//		// go-redis's own lines as JSON on stderr, hidden below error level.
//		setup.RouteRedisLogs(zerolog.New(os.Stderr).Level(zerolog.ErrorLevel))
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//		code := enqueue.Main(ctx, enqueue.Config{Registry: reg}, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
//		stop()
//		os.Exit(code)
//	}
//
// # Usage
//
//	enqueue [flags] TYPE [PAYLOAD_JSON]
//	enqueue [flags] TYPE --payload-file FILE   (- for stdin)
//	enqueue [flags] --file JOBS.jsonl          (- for stdin)
//	enqueue [--output json] --schedules        (lists $WORKER_SCHEDULES)
//	enqueue [--output json] --status           (why jobs may not run)
//
// Flags (one or two dashes; they may follow TYPE, and "--" ends them):
// --queue, --max-retry, --timeout, --deadline, --process-in, --process-at
// (RFC 3339), --unique TTL, --task-id, --retention, --redis-url (default
// $REDIS_URL, then redis://127.0.0.1:6379, parsed by [setup.ParseRedisURL]
// and printed only through [setup.RedactURL]), --output text|json,
// --dry-run, --wait, --wait-timeout, --allow-unknown, --max-payload-bytes
// (default 1 MiB), --file, --fail-fast. The full text is in --help.
//
// Durations are a Go duration such as 90s, 15m or 2h, or a whole number of
// seconds such as 90. asynq stores timeout, retention and unique TTL in
// whole seconds, so a fraction of a second there is refused, not rounded.
//
// # Validation
//
// The payload must be one JSON value other than null, with no key twice in
// one object. For a type in the registry it is decoded strictly by the
// job's own decoder (no unknown fields, no wrong types, its Validate
// method) and the definition's queue, timeout and retry budget become the
// defaults of the flags. Other types are refused unless --allow-unknown. A
// payload over --max-payload-bytes is refused.
// Payload bytes are stored as given, without surrounding whitespace, so
// --unique (which hashes them) tells apart payloads formatted differently.
// Nothing reaches Redis before every check has passed, and --dry-run never
// connects at all.
//
// # Bulk input
//
// Each non-blank line is one object: {"type": ..., "payload": ...,
// "options": {"queue", "max_retry", "timeout", "deadline", "process_in",
// "process_at", "unique", "task_id", "retention"}}, durations as Go
// duration strings ("90s") and times in RFC 3339. Unknown keys, in the
// line or in its options, are errors. Flags are defaults for every line
// and a line's options override them (--task-id is refused with --file).
// A UTF-8 byte-order mark at the start of the input (or of a
// --payload-file) is ignored, and lines may end in \r\n.
//
// All lines are read and validated before anything is written, so the
// whole input is held in memory. With --fail-fast the first invalid line
// ends the run and nothing is enqueued. Without it the invalid lines are
// reported on stderr as FILE:LINE: error, the valid ones are enqueued and
// the exit status is 2. Duplicates (--unique, or an existing task ID) are
// counted in the summary, not errors. A progress bar is drawn on stderr
// only when it is a terminal.
//
// Bulk mode writes the tasks itself instead of calling asynq's
// Client.Enqueue once per task (asynq v0.26 has no batch API): per batch
// of Config.BatchSize tasks, one Lua script call per queue, all in one
// pipeline. The script repeats the bodies of asynq's own enqueue scripts
// and the task message is asynq's protobuf TaskMessage, encoded field by
// field; the tests check that it leaves exactly the keys and bytes
// asynq's Client leaves, that asynq's Inspector reads the tasks back and
// that an asynq.Server runs them. Each script call is atomic, so a task is
// never half-written; when Redis fails mid-run the summary says how many
// tasks were written.
//
// # Exit status
//
//	0    enqueued (with --wait: completed)
//	1    any other error, e.g. Redis unreachable (checked within
//	     Config.DialTimeout, 3s by default)
//	2    usage or validation error: nothing enqueued (with --file and
//	     without --fail-fast: the valid lines were enqueued)
//	3    conflict: a unique duplicate, or the task ID already exists
//	4    with --wait: the task was archived (failed for good)
//	5    with --wait: --wait-timeout passed first; the task stays queued
//	130  interrupted: ctx was cancelled (SIGINT in cmd/enqueue); with
//	     --wait the task stays queued, with --file the summary says how
//	     many tasks were enqueued (none while the input is still read and
//	     checked)
//
// Every error is one line on stderr starting with "enqueue: " (the
// Config.Name); passwords in Redis URLs are never printed.
//
// # Output
//
// Text output prints "enqueued ID on queue Q" (or "scheduled ID on queue
// Q for TIME"); JSON output prints the task's info as one object. Bulk mode
// prints a summary: enqueued, duplicates and invalid counts with line
// numbers.
//
// # Waiting
//
// --wait sets --retention to 1h unless given, so the result can be read,
// then reads the task as asynq's Inspector reports it (50ms, doubling to
// 1s; each read bounded by Config.DialTimeout, so a Redis that hangs fails
// the wait instead of holding it) until the task is completed or archived. After the "enqueued" line, text output prints
// "failed ID in 1.2s (attempt 1), retrying: ERROR" for each failed attempt
// a poll sees, then the outcome: "completed ID in 512ms" followed by the
// bytes the handler wrote with its ResultWriter, verbatim (plus a newline
// if they lack one); "skipped ID in 12ms (duplicate_done: ...)" instead
// when the jobrunner worker completed the task without running it (a job
// with the same dedupe key already ran; its stored result follows, and
// JSON output has "skipped"); or "archived ID in 3s after 2 attempts", with the
// last error on stderr. The times run from the enqueue to the poll that
// saw the change, so they can overstate by one poll interval. A task that
// disappears while waited on (deleted, or revoked by its handler) is exit
// status 1. A cancelled context (SIGINT in cmd/enqueue) ends the wait with
// status 130 (ExitInterrupted); the task stays queued.
//
// The error texts --wait prints (text and JSON) pass through a
// job.Sanitizer (the default rules, [Config.Sanitizer]'s, and the Redis
// URL's passwords) and are cut to 2 KB, although a jobrunner worker has
// sanitized them already: the task may have run on an older or a plain
// asynq worker.
//
// # Schedules
//
// --schedules lists the periodic jobs of the WORKER_SCHEDULES environment
// variable (the worker's own, so run it with the worker's environment):
// each line is parsed and its payload checked by the registry's
// definitions exactly as the worker checks them ([schedule.Parse]), then
// each schedule's name, next run in its time zone, spec, type, payload
// and policies are printed; --output json prints one object a line with
// the next tick's task ID as well. It touches no Redis. A bad line is exit
// status 2, naming the variable and the line.
//
// # Status
//
// --status prints, from Redis alone, the fleet-wide part of a worker's
// status page: the shared breakers (those in Redis's index of them and
// those of WORKER_SHARED_BREAKERS), the limits of WORKER_DEPENDENCY_LIMITS
// with the jobs holding their slots, the schedules of WORKER_SCHEDULES with
// their last and next ticks and missed ticks, and the jobs deferred in the
// queues of WORKER_QUEUES, by reason. Run it with the worker's environment.
// Text output is a table per part; --output json is one object. A part that
// could not be read is an error line and exit status 1.
//
// # Tracing
//
// The TRACEPARENT, TRACESTATE and BAGGAGE environment variables (as read
// by Main's getenv) are passed on in the tasks' headers. When
// Config.TracerProvider (or the global provider) is set, each run starts a
// producer span there, "enqueue TYPE" for one task and "enqueue batch" for
// a --file run, and the tasks carry its context instead; the first
// attempts of their jobs are its children. Without either, tasks are
// written with no headers, exactly as asynq's Client writes them.
//
// # HTTP API
//
// enqueue serve (Main with "serve" first) serves the same over HTTP:
// POST /v1/jobs takes one line of the bulk format and answers 201
// {"task_id", "queue", "state"}; POST /v1/jobs:bulk takes a JSON array or
// JSON Lines and answers the bulk report of --output json with the tasks
// written; GET /v1/jobs/{queue}/{task_id} answers the task as --wait reads
// it (readTaskInfo), its last error sanitized as --wait sanitizes it. The
// handlers are thin: parseLine, validator.newTask and checkLines validate,
// asynq's Client and bulkWriter write. Errors are RFC 9457 problems whose
// detail is the CLI's text. Bearer tokens come from ENQUEUE_API_TOKENS
// (without them only loopback addresses are served). An Idempotency-Key
// makes a retried POST safe: the first answer is kept in Redis under
// jobrunner:idempotency: for --idempotency-ttl (24h) and replayed, and a
// job without a task ID gets one derived from the key, so that a retry
// after a lost answer finds its task. Each request's Redis work has a
// deadline (--request-timeout); past it, or when Redis fails, the answer
// is 503 with Retry-After. The contract is openapi.yaml (OpenAPI 3.1,
// embedded and served at /v1/openapi.yaml); the tests check every answer
// against it. docs/api.md in the repository describes it all.
//
// # Checks beyond the payload
//
// Config.Check runs on every decoded payload of a known type before
// anything reaches Redis; cmd/enqueue uses it, when WEBHOOK_DENY_PRIVATE
// is true, to refuse webhook.deliver destinations the worker would refuse
// (builtin.CheckWebhookDestination).
//
// See docs/enqueue-cli.md for the command's flags, bulk input and exit
// statuses.
package enqueue
