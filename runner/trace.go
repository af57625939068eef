package runner

import (
	"cmp"
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/logkey"
	"github.com/jobrunner/jobrunner/internal/tracectx"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
)

// tracerName is the instrumentation scope of the runner's spans.
const tracerName = "github.com/jobrunner/jobrunner/runner"

// The attributes of an attempt's span. The messaging.* names are
// OpenTelemetry's messaging conventions (the system is asynq: Redis is its
// store, asynq the protocol a consumer must speak); the jobrunner.* names
// are the runner's own, matching its log fields.
const (
	attrBodySize          = attribute.Key("messaging.message.body.size")
	attrErrorType         = attribute.Key("error.type")
	attrAttempt           = attribute.Key("jobrunner.job.attempt")
	attrMaxRetry          = attribute.Key("jobrunner.job.max_retry")
	attrOrigin            = attribute.Key("jobrunner.job.origin_id")
	attrOutcome           = attribute.Key("jobrunner.job.outcome")
	attrReason            = attribute.Key("jobrunner.job.reason")
	attrLastReason        = attribute.Key("jobrunner.job.last_reason")
	attrFinal             = attribute.Key("jobrunner.job.final")
	attrRetryIn           = attribute.Key("jobrunner.job.retry_in_ms")
	attrCopyID            = attribute.Key("jobrunner.job.copy_id")
	attrBatch             = attribute.Key("jobrunner.batch.id")
	attrDependency        = attribute.Key("jobrunner.dependency")
	attrBreakerOpen       = attribute.Key("jobrunner.breaker.open")
	attrLockKey           = attribute.Key("jobrunner.lock.key")
	attrLockWait          = attribute.Key("jobrunner.lock.wait_ms")
	attrLockFence         = attribute.Key("jobrunner.lock.fence")
	attrDedupeKey         = attribute.Key("jobrunner.dedupe.key")
	attrDedupeVerdict     = attribute.Key("jobrunner.dedupe.verdict")
	attrDedupeHolder      = attribute.Key("jobrunner.dedupe.holder")
	attrProgressDone      = attribute.Key("jobrunner.job.progress.done")
	attrProgressTotal     = attribute.Key("jobrunner.job.progress.total")
	messagingSystemAsynq  = "asynq"
	operationProcess      = "process"
	errorTypeOther        = "_OTHER"
	eventDedupe           = "dedupe"
	eventLockAcquired     = "lock.acquired"
	eventLockBusy         = "lock.busy"
	eventBreakerCheck     = "breaker.check"
	eventRequeued         = "requeued"
	eventHandedOver       = "handed_over"
	eventStoreUnavailable = "store.unavailable"
	eventProgress         = "progress"
)

// deferralAttr maps a log field of the runner's deferrals to its span
// attribute.
func deferralAttr(field string) (attribute.Key, bool) {
	switch field {
	case "dependency":
		return attrDependency, true
	case "lock_key":
		return attrLockKey, true
	case "dedupe_key":
		return attrDedupeKey, true
	case "holder":
		return attrDedupeHolder, true
	}
	return "", false
}

// startSpan starts the span of attempt a, puts it in ctx (so a handler's
// own spans nest under it) and in a.span (so the layers add their events to
// it, not to a span the base context may hold), and returns ctx with the
// baggage of the task's headers, which reaches the handler whether or not
// tracing is on.
//
// The first attempt of a task (Retried == 0, which includes its runs after
// deferrals, as they spend no attempt) is a child of the span context its
// producer wrote in the headers: the enqueue and the run read as one story.
// A retry starts a trace of its own that links to the producer's span
// context: it may come hours or days later, and nesting it would stretch the
// producer's trace over all that time. A task with no trace context in its
// headers (a plain asynq client) gets a root span.
//
// With tracing off (no provider, or a no-op one) it does nothing beyond the
// baggage lookup: no allocation.
func (r *Runner) startSpan(ctx context.Context, a *Attempt) context.Context {
	headers := a.Task.Headers()
	tr := r.tracer.Get()
	if tr == nil {
		return tracectx.ExtractBaggage(ctx, headers)
	}
	ctx, producer := tracectx.Extract(ctx, headers)
	attrs := []attribute.KeyValue{
		tracectx.AttrMessagingSystem.String(messagingSystemAsynq),
		tracectx.AttrOperationType.String(operationProcess),
		tracectx.AttrOperationName.String(operationProcess),
		tracectx.AttrDestination.String(a.Queue),
		tracectx.AttrMessageID.String(a.TaskID),
		attrBodySize.Int(len(a.Task.Payload())),
		tracectx.AttrType.String(a.Type),
		attrAttempt.Int(a.Number()),
		attrMaxRetry.Int(a.MaxRetry),
	}
	if origin := headers[HeaderOrigin]; origin != "" {
		attrs = append(attrs, attrOrigin.String(origin))
	}
	if id := batchOfTask(a); id != "" {
		attrs = append(attrs, attrBatch.String(id))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
	switch {
	case producer.IsValid() && a.Retried == 0:
		ctx = trace.ContextWithRemoteSpanContext(ctx, producer)
	case producer.IsValid():
		opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: producer}))
	default:
		opts = append(opts, trace.WithNewRoot())
	}
	ctx, a.span = tr.Start(ctx, "job "+a.Type, opts...)
	return ctx
}

// endSpan ends a's span, if it has one. processTask defers it, so the span
// covers the whole chain and what settle does with its outcome (a copy
// re-enqueued on the last attempt, a hand-over at the end of a drain).
func (r *Runner) endSpan(a *Attempt) {
	if a.span != nil {
		a.span.End()
	}
}

// recording returns a's span when it records, else nil: the layers build
// attributes only then.
func (a *Attempt) recording() trace.Span {
	if a.span == nil || !a.span.IsRecording() {
		return nil
	}
	return a.span
}

// traceOutcome sets the outcome of a's attempt on its span: the same
// outcome and reason as its log line. A failure sets the span's status to
// Error with the error's text, as the log line has it, except for an
// invalid payload, whose decoding error may quote the payload: its status
// names only the field.
func (r *Runner) traceOutcome(a *Attempt, err error) {
	span := a.recording()
	if span == nil {
		return
	}
	outcome, reason := outcomeOf(err)
	span.SetAttributes(attrOutcome.String(string(outcome)))
	if reason != "" {
		span.SetAttributes(attrReason.String(reason))
	}
	switch outcome {
	case outcomeDeferred:
		d, _ := asDeferral(err)
		span.SetAttributes(attrRetryIn.Int64(ms(d.After)))
		for k, v := range d.Attrs {
			if key, ok := deferralAttr(k); ok {
				span.SetAttributes(key.String(v))
			}
		}
	case outcomeFailed:
		span.SetAttributes(attrFinal.Bool(permanent(err) || a.Last()), attrErrorType.String(cmp.Or(reason, errorTypeOther)))
		if last, ok := lastReason(err); ok {
			span.SetAttributes(attrLastReason.String(last))
		}
		span.SetStatus(codes.Error, statusText(err, reason))
	}
}

// statusText is the status description of a failed attempt.
func statusText(err error, reason string) string {
	var pe *job.PayloadError
	if reason == reasonInvalidPayload && errors.As(err, &pe) {
		if pe.Field != "" {
			return "invalid payload: field " + strconv.Quote(pe.Field)
		}
		return "invalid payload"
	}
	return err.Error()
}

// traceAdmission adds the dedupe layer's decisions to a's span: the dedupe
// verdict and the lock taken (with how long it took, waiting included) or
// found busy.
func (r *Runner) traceAdmission(a *Attempt, req lockcore.AdmitRequest, adm lockcore.Admission, err error, start time.Time) {
	span := a.recording()
	if span == nil {
		return
	}
	took := r.cfg.Now().Sub(start)
	if req.LockKey != "" {
		span.SetAttributes(attrLockKey.String(logkey.Cap(req.LockKey)))
	}
	var ne *lockcore.NotObtainedError
	switch {
	case errors.As(err, &ne) && ne.Err != nil:
		return // the attempt's context ended while it waited: not busy
	case errors.Is(err, lockcore.ErrNotObtained):
		span.AddEvent(eventLockBusy, trace.WithAttributes(attrLockKey.String(logkey.Cap(req.LockKey)), attrLockWait.Int64(ms(took))))
		return
	case err != nil:
		span.AddEvent(eventStoreUnavailable)
		return
	}
	if req.DedupeKey != "" {
		attrs := []attribute.KeyValue{attrDedupeKey.String(logkey.Cap(req.DedupeKey)), attrDedupeVerdict.String(adm.Verdict.String())}
		if adm.Holder != "" {
			attrs = append(attrs, attrDedupeHolder.String(adm.Holder))
		}
		span.AddEvent(eventDedupe, trace.WithAttributes(attrs...))
	}
	if adm.Lock != nil {
		span.AddEvent(eventLockAcquired, trace.WithAttributes(attrLockKey.String(logkey.Cap(req.LockKey)),
			attrLockWait.Int64(ms(took)), attrLockFence.Int64(adm.Lock.Fence())))
	}
}

// traceBreakers adds to a's span, for each of the job's dependencies, what
// the breaker layer is about to find: whether its breaker is open. It asks
// the registry's Check, which takes no probe slot: in memory for a local
// breaker; a shared one answers from its cache, or with one Redis round
// trip when that is stale (only for attempts whose span records).
func (r *Runner) traceBreakers(ctx context.Context, a *Attempt, deps []string) {
	span := a.recording()
	if span == nil {
		return
	}
	for _, d := range deps {
		var oe *resilience.OpenError
		open := errors.As(r.breakers.Check(ctx, d), &oe)
		span.AddEvent(eventBreakerCheck, trace.WithAttributes(attrDependency.String(d), attrBreakerOpen.Bool(open)))
	}
}

// traceRequeued notes on a's span the copy that carries its job on.
func (r *Runner) traceRequeued(a *Attempt, copyID string) {
	if span := a.recording(); span != nil {
		span.AddEvent(eventRequeued, trace.WithAttributes(attrCopyID.String(copyID)))
	}
}

// traceProgress notes on a's span how far the job is, as written for
// enqueue --wait.
func (r *Runner) traceProgress(a *Attempt, done, total int) {
	if span := a.recording(); span != nil {
		span.AddEvent(eventProgress, trace.WithAttributes(attrProgressDone.Int(done), attrProgressTotal.Int(total)))
	}
}

// traceHandedOver notes on a's span that a drain handed its job over.
func (r *Runner) traceHandedOver(a *Attempt) {
	if span := a.recording(); span != nil {
		span.AddEvent(eventHandedOver)
	}
}

// injectTrace writes the trace context and baggage of ctx into the headers
// of a task the runner enqueues itself, and returns them. It is the one
// hook for every re-enqueue of the runner: the copies of requeueCopy, and
// schedules. Inside an attempt ctx holds the attempt's span, so the copy's
// first attempt is its child.
func injectTrace(ctx context.Context, headers map[string]string) map[string]string {
	return tracectx.Inject(ctx, headers)
}
