package builtin

import (
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sunday, 01-Mar-26 12:01:00 GMT", time.Minute, true},       // RFC 850
		{"Sun Mar  1 12:00:10 2026", 10 * time.Second, true},        // asctime
		{"Sat, 28 Feb 2026 12:00:00 GMT", 0, true},                  // past
		{"99999999", webhookRetryAfterCeiling, true},                // beyond the ceiling
		{"99999999999999999999999", webhookRetryAfterCeiling, true}, // beyond uint64
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"5s", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHeaderSyntax(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"X-Api-Key": true, "x_a.b~c!#$%&'*+^`|": true,
		"": false, "Bad Name": false, "X:A": false, "X\nA": false, "Ä": false,
	} {
		if got := validHeaderName(name); got != want {
			t.Errorf("validHeaderName(%q) = %v", name, got)
		}
	}
	for v, want := range map[string]bool{
		"": true, "Bearer abc": true, "a\tb": true, "überall": true,
		"a\r\nb": false, "a\x00": false, "a\x7f": false,
	} {
		if got := validHeaderValue(v); got != want {
			t.Errorf("validHeaderValue(%q) = %v", v, got)
		}
	}
}
