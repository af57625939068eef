package job_test

import (
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/job"
)

// webhookLike is a payload shaped like webhook.deliver's: a map of headers
// and a body of about 1 KiB.
type webhookLike struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Key     string            `json:"idempotency_key"`
}

// BenchmarkDecode measures strict decoding on the per-job path.
//
//	go test -run '^$' -bench Decode -benchmem ./job/
func BenchmarkDecode(b *testing.B) {
	webhook := []byte(`{"url":"https://hooks.example.com/in/abc","method":"POST","headers":{"Authorization":"Bearer x",` +
		`"Content-Type":"application/json","X-Tenant":"t1","X-Request-Id":"r1"},"body":"` + strings.Repeat("x", 1024) +
		`","idempotency_key":"evt_123"}`)
	b.Run("small", func(b *testing.B) {
		data := []byte(`{"id":7,"email":"a@example.com"}`)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := job.Decode[order](data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nested", func(b *testing.B) {
		data := []byte(`{"id":7,"email":"a@example.com","tags":["a","b","c"],"ship":{"zip":"12345"}}`)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := job.Decode[order](data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("webhook-1KiB", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(webhook)))
		for b.Loop() {
			if _, err := job.Decode[webhookLike](webhook); err != nil {
				b.Fatal(err)
			}
		}
	})
}
