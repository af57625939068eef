package builtin

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jobrunner/jobrunner/job"
)

func TestWebhookSecretsList(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("https://bob:hunter22@hooks.example.com/services/T0/B0/abcdefghijklmnopqrstuvwx?sig=0123456789&x=1")
	p := WebhookPayload{Headers: map[string]string{
		"Authorization": "Basic Ym9iOmh1bnRlcjIy",
		"X-Short":       "1",
	}}
	msg := webhookSanitizer(p, u).Sanitize("got Basic Ym9iOmh1bnRlcjIy and Ym9iOmh1bnRlcjIy, user bob, hunter22, sig 0123456789, " +
		"token abcdefghijklmnopqrstuvwx, 1 item")
	for _, s := range []string{"Ym9iOmh1bnRlcjIy", "hunter22", "0123456789", "abcdefghijklmnopqrstuvwx"} {
		if strings.Contains(msg, s) {
			t.Errorf("%q survives in %q", s, msg)
		}
	}
	if !strings.Contains(msg, "1 item") || !strings.Contains(msg, "user bob") {
		t.Errorf("short values were blanked: %q", msg) // "bob" and "1" are too short to be secrets
	}
}

func TestWebhookExcerpt(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"  plain  ", "plain"},
		{"a\r\nb\tc\x00d\x1b[0m", "a b c d [0m"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{"the key is SECRETVALUE1", "the key is [redacted]"},
		{`{"error":"bad","password":"pw-echoed"}`, `{"error":"bad","password":"[redacted]"}`},
	}
	san := job.NewSanitizer(job.SanitizerConfig{Secrets: []string{"SECRETVALUE1"}})
	for _, tt := range tests {
		if got := webhookExcerpt(tt.in, san); got != tt.want {
			t.Errorf("webhookExcerpt(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := webhookExcerpt(strings.Repeat("€", 1000), san)
	if !utf8.ValidString(long) || len(long) > WebhookExcerptBytes+len("…") || !strings.HasSuffix(long, "…") {
		t.Errorf("long excerpt: %d bytes, valid %v", len(long), utf8.ValidString(long))
	}
	if got := clip(strings.Repeat("ü", 40)); !utf8.ValidString(got) || len(got) > 32+len("…") {
		t.Errorf("clip = %q", got)
	}
}
