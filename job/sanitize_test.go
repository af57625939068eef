package job_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/job"
)

func ExampleSanitizer() {
	s := job.NewSanitizer(job.SanitizerConfig{
		Secrets:  []string{"hunter22"},                                 // a password this program holds
		Keys:     []string{"tenant_sig"},                               // tenant_sig=... is blanked too
		Patterns: []*regexp.Regexp{regexp.MustCompile(`\bacct_(\w+)`)}, // only the group is blanked
	})
	fmt.Println(s.Sanitize(`Get "https://bob:pw@api.example.com/v1/charges?api_key=k1&limit=5": EOF`))
	fmt.Println(s.Sanitize(`charge acct_1234 refused: {"error":"bad_key","token":"tok_abc"} tenant_sig=xyz`))
	fmt.Println(s.Sanitize("login with hunter22 failed: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9"))
	// Output:
	// Get "https://[redacted]@api.example.com/v1/charges?api_key=[redacted]&limit=[redacted]": EOF
	// charge acct_[redacted] refused: {"error":"bad_key","token":"[redacted]"} tenant_sig=[redacted]
	// login with [redacted] failed: Authorization: [redacted]
}

// FuzzSanitize checks that the sanitizer never panics, never returns a
// string holding a literal secret it was given (unless that secret is part
// of the "[redacted]" marker itself), stays within its window, and is
// idempotent.
//
//	go test -run '^$' -fuzz FuzzSanitize -fuzztime 30s ./job/
func FuzzSanitize(f *testing.F) {
	for _, seed := range [][2]string{
		{"password=hunter22 at https://u:hunter22@h/?k=hunter22", "hunter22"},
		{`{"token":"abc\"def"}`, `abc"def`},
		{"Xab [redacte", "d]ab"},
		{"ed]xsecretx", "ed]x"},
		{"p%40ss and p@ss", "p@ss"},
		{"Authorization: Bearer abc\r\nCookie: a=b", "Bearer abc"},
		{strings.Repeat("x ", 9000) + "s3cr3t-value", "s3cr3t-value"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, msg, secret string) {
		s := job.NewSanitizer(job.SanitizerConfig{Secrets: []string{secret}})
		got := s.Sanitize(msg)
		if len(secret) >= 4 && !strings.Contains("[redacted]", secret) && strings.Contains(got, secret) {
			t.Fatalf("Sanitize(%q) with secret %q = %q", msg, secret, got)
		}
		if len(got) > 16<<10+100 {
			t.Fatalf("Sanitize returned %d bytes", len(got))
		}
		if again := s.Sanitize(got); again != got && len(msg) <= 16<<10 {
			t.Fatalf("not idempotent: %q -> %q -> %q", msg, got, again)
		}
	})
}

// BenchmarkSanitize measures the default sanitizer, with one literal
// secret as cmd/worker has, on typical error texts.
func BenchmarkSanitize(b *testing.B) {
	s := job.NewSanitizer(job.SanitizerConfig{Secrets: []string{"redis-password-1"}})
	for _, bc := range []struct{ name, msg string }{
		{"plain", "charge in_1: payment-api: dial tcp 10.0.0.7:443: connect: connection refused"},
		{"url", `Get "https://bob:hunter22@api.example.com/v1/charges?api_key=k3y&limit=5": context deadline exceeded`},
		{"json", `payment-api answered 422: {"error":"invalid","password":"hunter22","detail":"card declined"}`},
		{"4KB", strings.Repeat("upstream said: nothing to see here; ", 110)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.msg)))
			for b.Loop() {
				s.Sanitize(bc.msg)
			}
		})
	}
}
