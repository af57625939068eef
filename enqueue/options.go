package enqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/job"
)

// optionSet is one layer of task options: the command-line flags, or one
// JSONL line's "options" object. A nil field is not set at this layer.
type optionSet struct {
	Queue     *string
	MaxRetry  *int
	Timeout   *time.Duration
	Deadline  *time.Time
	ProcessIn *time.Duration
	ProcessAt *time.Time
	Unique    *time.Duration
	TaskID    *string
	Retention *time.Duration
}

// over returns o with the fields set in top replacing its own. ProcessIn
// and ProcessAt are one setting: top setting either replaces both.
func (o optionSet) over(top optionSet) optionSet {
	r := o
	set := func(dst **string, src *string) {
		if src != nil {
			*dst = src
		}
	}
	set(&r.Queue, top.Queue)
	set(&r.TaskID, top.TaskID)
	if top.MaxRetry != nil {
		r.MaxRetry = top.MaxRetry
	}
	for _, d := range []struct{ dst, src **time.Duration }{
		{&r.Timeout, &top.Timeout}, {&r.Unique, &top.Unique}, {&r.Retention, &top.Retention},
	} {
		if *d.src != nil {
			*d.dst = *d.src
		}
	}
	if top.Deadline != nil {
		r.Deadline = top.Deadline
	}
	if top.ProcessIn != nil || top.ProcessAt != nil {
		r.ProcessIn, r.ProcessAt = top.ProcessIn, top.ProcessAt
	}
	return r
}

// rawOptions holds option values as text, before parsing: the flags'
// values, or a JSONL line's options. names maps each to the name used in
// error messages ("--timeout" or "options.timeout").
type rawOptions struct {
	Queue     *string `json:"queue"`
	MaxRetry  *int    `json:"max_retry"`
	Timeout   *string `json:"timeout"`
	Deadline  *string `json:"deadline"`
	ProcessIn *string `json:"process_in"`
	ProcessAt *string `json:"process_at"`
	Unique    *string `json:"unique"`
	TaskID    *string `json:"task_id"`
	Retention *string `json:"retention"`
}

// optionNames name the fields of rawOptions in error messages.
type optionNames struct {
	Queue, MaxRetry, Timeout, Deadline, ProcessIn, ProcessAt, Unique, TaskID, Retention string
}

var (
	flagNames = optionNames{"--queue", "--max-retry", "--timeout", "--deadline", "--process-in",
		"--process-at", "--unique", "--task-id", "--retention"}
	lineNames = optionNames{"options.queue", "options.max_retry", "options.timeout", "options.deadline",
		"options.process_in", "options.process_at", "options.unique", "options.task_id", "options.retention"}
)

// parse checks and converts raw option text.
func (r rawOptions) parse(n optionNames) (optionSet, error) {
	var o optionSet
	var err error
	if r.Queue != nil {
		if strings.TrimSpace(*r.Queue) == "" {
			return o, fieldErr(n.Queue, "queue name is empty")
		}
		o.Queue = r.Queue
	}
	if r.MaxRetry != nil {
		if *r.MaxRetry < 0 {
			return o, fieldErr(n.MaxRetry, "must be >= 0, got %d", *r.MaxRetry)
		}
		o.MaxRetry = r.MaxRetry
	}
	if r.TaskID != nil {
		if strings.TrimSpace(*r.TaskID) == "" {
			return o, fieldErr(n.TaskID, "task ID is empty")
		}
		o.TaskID = r.TaskID
	}
	// Timeout and retention are stored by asynq in whole seconds: refuse
	// what it would silently truncate.
	if o.Timeout, err = parseDuration(n.Timeout, r.Timeout, time.Second, true); err != nil {
		return o, err
	}
	if o.Retention, err = parseDuration(n.Retention, r.Retention, time.Second, true); err != nil {
		return o, err
	}
	if o.Unique, err = parseDuration(n.Unique, r.Unique, time.Second, false); err != nil {
		return o, err
	}
	if o.ProcessIn, err = parseDuration(n.ProcessIn, r.ProcessIn, 0, true); err != nil {
		return o, err
	}
	if o.Deadline, err = parseTime(n.Deadline, r.Deadline); err != nil {
		return o, err
	}
	if o.ProcessAt, err = parseTime(n.ProcessAt, r.ProcessAt); err != nil {
		return o, err
	}
	if o.ProcessIn != nil && o.ProcessAt != nil {
		return o, fmt.Errorf("%s and %s are mutually exclusive", n.ProcessIn, n.ProcessAt)
	}
	return o, nil
}

// durationRule says how a duration is written, in --help and in every
// duration error.
const durationRule = "a Go duration such as 90s, 15m or 2h, or a whole number of seconds such as 90"

// parseDuration parses a duration written as durationRule says. With
// unit > 0 the value must be a whole multiple of unit (asynq stores
// timeout, retention and unique TTL in whole seconds and would silently
// truncate a fraction) and, unless zeroOK, at least one unit.
func parseDuration(name string, s *string, unit time.Duration, zeroOK bool) (*time.Duration, error) {
	if s == nil {
		return nil, nil
	}
	v := strings.TrimSpace(*s)
	var d time.Duration
	if n, err := strconv.ParseUint(v, 10, 32); err == nil { // bare seconds; 32 bits is 136 years
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(v); err != nil {
		return nil, fieldErr(name, "%s is not a duration; want %s", strconv.Quote(*s), durationRule)
	}
	switch {
	case d < 0:
		return nil, fieldErr(name, "must not be negative, got %v", d)
	case d < unit && !zeroOK:
		return nil, fieldErr(name, "must be at least %v, got %v", unit, d)
	case unit > 0 && d%unit != 0:
		r := max(d.Round(unit), unit)
		return nil, fieldErr(name, "%v is not a whole number of seconds, which asynq stores; write e.g. %v or %d",
			d, r, int64(r/time.Second))
	}
	return &d, nil
}

func parseTime(name string, s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		return nil, fieldErr(name, "%s is not an RFC 3339 time; want e.g. 2026-01-02T15:04:05Z", strconv.Quote(*s))
	}
	return &t, nil
}

// task is one validated task, ready to enqueue.
type task struct {
	Type    string
	Payload []byte
	// Queue, MaxRetry and Timeout are always set: from the options, else
	// the job type's definition, else the job package's defaults.
	Queue    string
	MaxRetry int
	Timeout  time.Duration
	// Deadline, ProcessAt, Unique, TaskID and Retention are zero when not
	// given; TaskID is then generated when the task is written.
	Deadline  time.Time
	ProcessAt time.Time
	Unique    time.Duration
	TaskID    string
	Retention time.Duration
	// Headers are the task's asynq headers: the trace context, when the
	// run has one (see startSpan); nil otherwise.
	Headers map[string]string
}

// errUnknownType is wrapped by newTask for a type the registry lacks.
var errUnknownType = errors.New("unknown job type")

// payloadSizeError is newTask's error for a payload over the limit.
type payloadSizeError struct{ error }

func (e *payloadSizeError) Unwrap() error { return e.error }

// fieldError is an error about one named input: a flag ("--timeout"), a
// field of a JSONL line ("options.timeout", written "options.timeout: ...")
// or a key of the line object (quoted: `field "type": ...`). The API names
// the field in its problem details.
type fieldError struct {
	field  string
	quoted bool
	err    error
}

func (e *fieldError) Error() string {
	if e.quoted {
		return fmt.Sprintf("field %q: %v", e.field, e.err)
	}
	return e.field + ": " + e.err.Error()
}

func (e *fieldError) Unwrap() error { return e.err }

// fieldErr returns a *fieldError for the named field.
func fieldErr(field, format string, args ...any) error {
	return &fieldError{field: field, err: fmt.Errorf(format, args...)}
}

// validator checks a task's type and payload: the registry's strict
// decoder for known types, plain JSON validity for the others.
type validator struct {
	reg          *job.Registry
	check        func(ctx context.Context, typ string, payload any) error
	allowUnknown bool
	maxPayload   int
	now          time.Time
}

// newTask validates typ and payload and applies the options o. Payload
// errors are *job.PayloadError.
func (v validator) newTask(ctx context.Context, typ string, payload []byte, o optionSet) (task, error) {
	t := task{Type: typ, Payload: payload, Queue: job.QueueDefault, MaxRetry: job.MaxRetryDefault, Timeout: job.TimeoutDefault}
	if strings.TrimSpace(typ) == "" {
		return t, errors.New("job type is empty")
	}
	if len(payload) > v.maxPayload {
		return t, &payloadSizeError{fmt.Errorf("job %s: payload is %d bytes, over the limit of %d (--max-payload-bytes)", typ, len(payload), v.maxPayload)}
	}
	spec, ok := v.reg.Lookup(typ)
	switch {
	case ok:
		p, err := spec.Prepare(payload)
		if err != nil {
			return t, err
		}
		if v.check != nil {
			if err := v.check(ctx, typ, p.Payload); err != nil {
				return t, err
			}
		}
		so := spec.Options()
		t.Queue, t.MaxRetry, t.Timeout = so.Queue, max(so.MaxRetry, 0), so.Timeout // NoRetry: none
	case !v.allowUnknown:
		known := "none"
		if k := v.reg.Types(); len(k) > 0 {
			known = strings.Join(k, ", ")
		}
		return t, fmt.Errorf("%w %q (known: %s); pass --allow-unknown for types only your workers know", errUnknownType, typ, known)
	default:
		if _, err := job.Decode[anyJSON](payload); err != nil {
			var pe *job.PayloadError
			if errors.As(err, &pe) {
				pe.Type = typ
			}
			return t, err
		}
	}
	if o.Queue != nil {
		t.Queue = *o.Queue
	}
	if o.MaxRetry != nil {
		t.MaxRetry = *o.MaxRetry
	}
	if o.Timeout != nil {
		t.Timeout = *o.Timeout
	}
	if o.Deadline != nil {
		t.Deadline = *o.Deadline
		if !t.Deadline.After(v.now) {
			return t, fmt.Errorf("deadline %s is in the past", t.Deadline.Format(time.RFC3339))
		}
	}
	if o.Timeout != nil && *o.Timeout == 0 && t.Deadline.IsZero() {
		return t, errors.New("timeout 0 (none) needs a deadline")
	}
	switch {
	case o.ProcessAt != nil:
		t.ProcessAt = *o.ProcessAt
	case o.ProcessIn != nil && *o.ProcessIn > 0:
		t.ProcessAt = v.now.Add(*o.ProcessIn)
	}
	if !t.Deadline.IsZero() && t.ProcessAt.After(t.Deadline) {
		return t, fmt.Errorf("process time %s is after the deadline %s", t.ProcessAt.Format(time.RFC3339), t.Deadline.Format(time.RFC3339))
	}
	if o.Unique != nil {
		t.Unique = *o.Unique
	}
	if o.TaskID != nil {
		t.TaskID = *o.TaskID
	}
	if o.Retention != nil {
		t.Retention = *o.Retention
	}
	return t, nil
}

// anyJSON accepts any JSON value; job.Decode[anyJSON] checks that a payload
// is exactly one valid JSON value.
type anyJSON struct{}

func (*anyJSON) UnmarshalJSON([]byte) error { return nil }

// asynqOptions returns the asynq options that carry t.
func (t task) asynqOptions() []asynq.Option {
	opts := []asynq.Option{asynq.Queue(t.Queue), asynq.MaxRetry(t.MaxRetry), asynq.Timeout(t.Timeout)}
	if !t.Deadline.IsZero() {
		opts = append(opts, asynq.Deadline(t.Deadline))
	}
	if !t.ProcessAt.IsZero() {
		opts = append(opts, asynq.ProcessAt(t.ProcessAt))
	}
	if t.Unique > 0 {
		opts = append(opts, asynq.Unique(t.Unique))
	}
	if t.TaskID != "" {
		opts = append(opts, asynq.TaskID(t.TaskID))
	}
	if t.Retention > 0 {
		opts = append(opts, asynq.Retention(t.Retention))
	}
	return opts
}
