package runner

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobrunner/jobrunner/internal/jobctx"
	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
)

// HeaderOrigin is the task header that carries the original task ID on a
// copy re-enqueued by a deferral on the last attempt.
const HeaderOrigin = "jobrunner-origin"

// Attempt is one run of one task through the middleware chain. Middleware
// added with Runner.Use reads it; only the runner writes it.
type Attempt struct {
	TaskID   string
	Type     string
	Queue    string
	Retried  int // attempts already failed
	MaxRetry int
	// Task is the asynq task: its payload and headers (a tenant, a trace
	// context) as the producer wrote them.
	Task *asynq.Task
	// Start is when the attempt entered the chain.
	Start time.Time

	spec      job.Spec     // the registered job type, nil for an unknown type
	prepared  job.Prepared // the decoded payload with its keys; set by decode
	runner    *Runner
	admission *lockcore.Admission     // marker and lock held, set by dedupe
	renewal   lockcore.Tracking       // the renewal of the admission's leases, held by the lock layer
	result    atomic.Pointer[[]byte]  // written by job.WriteResult, from any goroutine of the handler
	tracked   atomic.Pointer[tracked] // set by the track layer, to &entry
	entry     tracked                 // the tracker's entry, allocated with the attempt
	busyOnce  sync.Once               // releaseBusy's
	carrier   jobctx.Carrier          // the handler's context, allocated with the attempt
	span      trace.Span              // the attempt's span; nil while tracing is off (trace.go)

	// checkpointed is set once the job's handler saved a checkpoint or
	// resumed from one: the end of the attempt removes it when the job
	// completes or is archived (checkpoint.go).
	checkpointed atomic.Bool
	// progress is what job.Progress reported (progress.go).
	progress progress
	// logger is job.Log's logger, built on first use.
	logger atomic.Pointer[zerolog.Logger]

	// unrecorded is set when the attempt succeeded but its completed
	// record could not be written: a rerun will not be skipped.
	unrecorded bool

	// storeTrouble is set when a Redis call of the attempt failed: before
	// handing the outcome to asynq, the runner waits for Redis to answer,
	// because asynq v0.26 does not retry a failed outcome write.
	storeTrouble bool
}

// Payload returns the decoded payload (a *P value's P, as the handler gets
// it), or nil before decoding and for an unknown type.
func (a *Attempt) Payload() any { return a.prepared.Payload }

// Number returns the 1-based attempt number.
func (a *Attempt) Number() int { return a.Retried + 1 }

// Last reports whether a failure now would archive the task.
func (a *Attempt) Last() bool { return a.Retried >= a.MaxRetry }

// OriginID returns the ID of the task this attempt descends from: the task
// ID, or the original's ID for a copy re-enqueued by a deferral.
func (a *Attempt) OriginID() string {
	if id := a.Task.Headers()[HeaderOrigin]; id != "" {
		return id
	}
	return a.TaskID
}

// HandlerFunc runs one attempt.
type HandlerFunc func(ctx context.Context, a *Attempt) error

// Middleware wraps a HandlerFunc with one concern. Add yours with
// Runner.Use.
type Middleware func(next HandlerFunc) HandlerFunc
