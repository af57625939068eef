// Package otlp exports a main's traces over OTLP/HTTP when the standard
// OpenTelemetry environment variables ask for it, and does nothing
// otherwise. cmd/worker and cmd/enqueue use it; it is the only package of
// the module that imports the OpenTelemetry SDK and an exporter (job,
// runner, resilience, lockstore and enqueue import the API only, so a
// program that embeds them chooses its own SDK, or none).
//
// # Variables
//
// Export is on when OTEL_EXPORTER_OTLP_ENDPOINT (a base URL, to which
// /v1/traces is appended) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the full
// URL) is set, unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
// OTEL_SERVICE_NAME names the service (default: the main's own name);
// OTEL_RESOURCE_ATTRIBUTES adds resource attributes; OTEL_TRACES_SAMPLER
// and OTEL_TRACES_SAMPLER_ARG choose the sampler (default: parent-based,
// always on). The exporter reads the other OTEL_EXPORTER_OTLP_* variables
// (headers, timeout, compression, certificates) from the process
// environment itself. The protocol is http/protobuf, the specification's
// default; OTEL_EXPORTER_OTLP_PROTOCOL=grpc is refused with an error.
//
// TracerProvider checks these variables before anything starts, as the
// mains check their other settings: an endpoint that is not an http(s)
// URL with a host, an unknown sampler or a ratio outside 0..1, a timeout
// that is not whole milliseconds, a malformed header list (its values,
// which carry API keys, are never quoted), an unknown compression or
// exporter, an unreadable certificate file, is an error naming the
// variable (the mains exit with status 2). Left to the SDK, such a value is
// ignored or reported as a plain-text line on stderr while the program runs
// without the traces it was asked for.
//
//	tp, err := otlp.TracerProvider(ctx, os.Getenv, "jobrunner-worker")
//	if err != nil {
//		return err // a bad variable: exit status 2
//	}
//	if tp != nil {
//		defer tp.Shutdown(context.Background()) // flushes what is buffered
//	}
package otlp

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Enabled reports whether the variables ask for trace export.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	if strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")) == "none" {
		return false
	}
	return strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) != "" ||
		strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) != ""
}

// TracerProvider returns an SDK tracer provider that batches spans to the
// OTLP/HTTP endpoint the variables name, or nil when they name none (see
// the package documentation). It also makes the provider the global one
// and sets the global propagator to W3C Trace Context and Baggage, so that
// instrumentation inside handlers (an HTTP client's spans) joins the job's
// trace. Shut the provider down before exiting: that flushes the spans it
// still holds. service is the service name unless OTEL_SERVICE_NAME is set.
func TracerProvider(ctx context.Context, getenv func(string) string, service string) (*sdktrace.TracerProvider, error) {
	if !Enabled(getenv) {
		return nil, nil
	}
	if err := check(getenv); err != nil {
		return nil, err
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(name)); p != "" {
			if p != "http/protobuf" {
				return nil, fmt.Errorf("%s=%q: want http/protobuf (OTLP over HTTP, usually port 4318)", name, p)
			}
			break
		}
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp, nil
}

// LogErrors sends OpenTelemetry's own errors (an export that failed, a
// collector that is down) to log at warn level, with event=otel.error,
// instead of the standard logger's plain lines on stderr. It sets
// OpenTelemetry's process-wide error handler: call it once, from main.
func LogErrors(log zerolog.Logger) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn().Str("event", "otel.error").Err(err).Msg("trace export failed")
	}))
}
