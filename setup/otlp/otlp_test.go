package otlp

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/internal/testkit/otlptest"
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

// TestBadVariablesRefused: every variable the SDK or the exporter would
// ignore or report as a plain-text line is an error naming it, and a
// header's value (an API key) never appears in the error.
func TestBadVariablesRefused(t *testing.T) {
	t.Parallel()
	const ep = "OTEL_EXPORTER_OTLP_ENDPOINT"
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{ep: "collector:4318"}, `OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318": want an http:// or https:// URL`},
		{map[string]string{ep: "http://%zz"}, `OTEL_EXPORTER_OTLP_ENDPOINT="http://%zz": not a URL`},
		{map[string]string{ep: "ftp://c:1"}, `OTEL_EXPORTER_OTLP_ENDPOINT="ftp://c:1": want an http:// or https:// URL`},
		{map[string]string{ep: "http://:4318"}, `OTEL_EXPORTER_OTLP_ENDPOINT="http://:4318": no host`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c:99999/v1/traces"}, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="https://c:99999/v1/traces": port "99999"`},
		{map[string]string{ep: "http://c:4318", "OTEL_TRACES_SAMPLER": "sometimes"}, `OTEL_TRACES_SAMPLER="sometimes": want one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio`},
		{map[string]string{ep: "http://c:4318", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, `OTEL_TRACES_SAMPLER_ARG="2": want a ratio from 0 to 1`},
		{map[string]string{ep: "http://c:4318", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, `OTEL_TRACES_SAMPLER_ARG="half"`},
		{map[string]string{ep: "http://c:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, `OTEL_EXPORTER_OTLP_TIMEOUT="10s": want whole milliseconds`},
		{map[string]string{ep: "http://c:4318", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, `OTEL_EXPORTER_OTLP_COMPRESSION="zstd": want gzip or none`},
		{map[string]string{ep: "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cret,broken"}, `OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value`},
		{map[string]string{ep: "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=s3cret%zz"}, `OTEL_EXPORTER_OTLP_TRACES_HEADERS: entry 1 (api-key): the value is not URL-encoded`},
		{map[string]string{ep: "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "bad key=s3cret"}, `OTEL_EXPORTER_OTLP_HEADERS: entry 1: "bad key" is not a header name`},
		{map[string]string{ep: "http://c:4318", "OTEL_TRACES_EXPORTER": "zipkin"}, `OTEL_TRACES_EXPORTER="zipkin": want otlp or none`},
		{map[string]string{ep: "http://c:4318", "OTEL_SDK_DISABLED": "yes"}, `OTEL_SDK_DISABLED="yes": want true or false`},
		{map[string]string{ep: "http://c:4318", "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}, `OTEL_EXPORTER_OTLP_CERTIFICATE="/nonexistent/ca.pem"`},
		{map[string]string{ep: "http://c:4318", "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/k.pem"}, `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY: set both or neither`},
		{map[string]string{ep: "http://c:4318", "OTEL_BSP_MAX_QUEUE_SIZE": "lots"}, `OTEL_BSP_MAX_QUEUE_SIZE="lots": want a whole number`},
	} {
		tp, err := TracerProvider(context.Background(), env(c.env), "test")
		if tp != nil || err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%v: %v; want an error starting %q", c.env, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v: a header value in the error %q", c.env, err)
		}
	}
	// Good values pass the check (the provider itself is not built here:
	// it would become the global one).
	if err := check(env(map[string]string{ep: "https://otel-collector:4318", "OTEL_TRACES_SAMPLER": "ParentBased_TraceIDRatio",
		"OTEL_TRACES_SAMPLER_ARG": "0.25", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%2Cb, x-tenant = t1",
		"OTEL_EXPORTER_OTLP_TIMEOUT": "10000", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_SDK_DISABLED": "false"})); err != nil {
		t.Fatalf("good values refused: %v", err)
	}
}
