package otlp

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/internal/otlptest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestEnabled(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{"OTEL_SERVICE_NAME": "svc"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, false},
	} {
		if got := Enabled(env(c.env)); got != c.want {
			t.Errorf("Enabled(%v) = %v, want %v", c.env, got, c.want)
		}
	}
}

func TestNothingWithoutAnEndpoint(t *testing.T) {
	t.Parallel()
	tp, err := TracerProvider(context.Background(), env(map[string]string{"OTEL_SERVICE_NAME": "svc"}), "test")
	if tp != nil || err != nil {
		t.Fatalf("TracerProvider = %v, %v; want nil, nil", tp, err)
	}
}

func TestGRPCRefused(t *testing.T) {
	t.Parallel()
	_, err := TracerProvider(context.Background(), env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}), "test")
	if err == nil {
		t.Fatal("grpc accepted")
	}
}

// TestExportsToTheEndpoint sets the process's environment and its global
// provider: not parallel.
func TestExportsToTheEndpoint(t *testing.T) {
	srv := otlptest.NewServer(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "")
	tp, err := TracerProvider(context.Background(), env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}), "jobrunner-test")
	if err != nil || tp == nil {
		t.Fatalf("TracerProvider = %v, %v", tp, err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "hello")
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := srv.Named("hello")
	if len(got) != 1 || got[0].Service != "jobrunner-test" {
		t.Fatalf("received %v", srv.Spans())
	}
}

// TestCorePackagesImportTheAPIOnly: the SDK and the exporter stay out of
// the libraries, so a program embedding them picks its own SDK, or none.
func TestCorePackagesImportTheAPIOnly(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "list", "-deps", "./job", "./runner", "./lockstore", "./resilience", "./enqueue", "./setup")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "go.opentelemetry.io/otel/sdk") || strings.HasPrefix(pkg, "go.opentelemetry.io/otel/exporters") {
			t.Errorf("a core package depends on %s", pkg)
		}
	}
}
