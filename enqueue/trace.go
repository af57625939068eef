package enqueue

import (
	"context"
	"maps"
	"slices"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobrunner/jobrunner/internal/tracectx"
)

// tracerName is the instrumentation scope of the command's spans.
const tracerName = "github.com/jobrunner/jobrunner/enqueue"

// The attributes of the command's spans; see runner's trace.go for the
// attempt's side.
const (
	attrBatchCount = attribute.Key("messaging.batch.message_count")
	attrEnqueued   = attribute.Key("jobrunner.batch.enqueued")
	attrDuplicates = attribute.Key("jobrunner.batch.duplicates")
)

// startSpan returns the context an enqueue runs in and the headers its
// tasks carry. The context starts from the TRACEPARENT, TRACESTATE and
// BAGGAGE environment variables, when set, so a script that runs the
// command inside a trace passes it on; when tracing is configured
// (Config.TracerProvider, or a global provider) the command also starts a
// producer span of its own there, which end ends. With neither, headers
// is nil and span is nil: the tasks are written as before.
//
// A single task's span is "enqueue TYPE". A bulk run has one span,
// "enqueue batch", whose context every task of the run carries: the
// first attempts of all its jobs are its children, one trace per run
// rather than one per line.
func (c *cli) startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span, map[string]string) {
	return producerSpan(tracectx.FromEnv(ctx, c.getenv), c.tracer, name, attrs...)
}

// producerSpan starts the producer span of an enqueue, a child of the
// trace context ctx already carries (the CLI's environment, an API
// request's traceparent header), when tracer is on; see startSpan.
func producerSpan(ctx context.Context, tracer *tracectx.Tracer, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span, map[string]string) {
	var span trace.Span
	if tr := tracer.Get(); tr != nil {
		attrs = append(attrs, tracectx.AttrMessagingSystem.String("asynq"), tracectx.AttrOperationType.String("send"),
			tracectx.AttrOperationName.String("enqueue"))
		ctx, span = tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	}
	return ctx, span, tracectx.Inject(ctx, nil)
}

// endSpan ends span, if there is one, with err's outcome and attrs.
func endSpan(span trace.Span, err error, attrs ...attribute.KeyValue) {
	if span == nil {
		return
	}
	span.SetAttributes(attrs...)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// endEnqueue ends the span of a single enqueue.
func endEnqueue(span trace.Span, info *asynq.TaskInfo, err error) {
	if info != nil {
		endSpan(span, err, tracectx.AttrMessageID.String(info.ID))
		return
	}
	endSpan(span, err)
}

// batchAttrs returns the attributes of a bulk run's span: the number of
// tasks, and the queue when they all go to one.
func batchAttrs(tasks []task) []attribute.KeyValue {
	queues := map[string]bool{}
	for _, t := range tasks {
		queues[t.Queue] = true
	}
	attrs := []attribute.KeyValue{attrBatchCount.Int(len(tasks))}
	if len(queues) == 1 {
		attrs = append(attrs, tracectx.AttrDestination.String(slices.Collect(maps.Keys(queues))[0]))
	}
	return attrs
}
