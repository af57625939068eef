package otlp

import (
	"slices"
	"testing"
)

func TestHeaderSecrets(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_HEADERS":        "api-key=k3y-123, Authorization=Bearer%20t0ken-abc",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-tenant=acme,broken",
	}
	got := HeaderSecrets(func(k string) string { return env[k] })
	for _, want := range []string{"k3y-123", "Bearer%20t0ken-abc", "Bearer t0ken-abc", "t0ken-abc", "acme"} {
		if !slices.Contains(got, want) {
			t.Errorf("HeaderSecrets = %q, want it to hold %q", got, want)
		}
	}
	if got := HeaderSecrets(func(string) string { return "" }); len(got) != 0 {
		t.Errorf("no headers: %q", got)
	}
}
