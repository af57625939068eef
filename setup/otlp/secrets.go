package otlp

import (
	"net/url"
	"strings"
)

// HeaderSecrets returns the values of the headers that
// OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TRACES_HEADERS give the
// exporter (API keys, Authorization values), as written and decoded, and
// the words of each (the token of "Bearer <token>"), for a sanitizer's
// literal secrets (job.SanitizerConfig.Secrets). It reads them whether or
// not export is on.
func HeaderSecrets(getenv func(string) string) []string {
	var s []string
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		for pair := range strings.SplitSeq(getenv(name), ",") {
			_, v, ok := strings.Cut(pair, "=")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			values := []string{v}
			if d, err := url.PathUnescape(v); err == nil && d != v {
				values = append(values, d)
			}
			for _, x := range values {
				s = append(s, x)
				if words := strings.Fields(x); len(words) > 1 {
					s = append(s, words...)
				}
			}
		}
	}
	return s
}
