package otlp_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jobrunner/jobrunner/setup/otlp"
)

// ExampleTracerProvider is how a main turns the standard OTEL_* variables
// into the runner's TracerProvider: nil (no spans, nothing sent) when
// OTEL_EXPORTER_OTLP_ENDPOINT is unset, an error naming the variable when
// one is bad.
func ExampleTracerProvider() {
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_SAMPLER": "always_of"}
	_, err := otlp.TracerProvider(context.Background(), func(k string) string { return env[k] }, "jobrunner-worker")
	fmt.Println(err != nil)

	tp, err := otlp.TracerProvider(context.Background(), os.Getenv, "jobrunner-worker")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if tp != nil { // flush the last spans before exiting
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = tp.Shutdown(ctx)
		}()
	}
	// runner.New(runner.Config{TracerProvider: tp, ...})

	// Output: true
}
