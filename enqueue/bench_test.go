package enqueue

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

var benchJobs = flag.Int("enqueue.jobs", 10_000, "jobs per operation in BenchmarkBulkEnqueue")

// BenchmarkBulkEnqueue compares, in one run and against one dedicated
// Redis, a loop of single asynq Client.Enqueue calls with the CLI's bulk
// mode reading the same jobs from JSONL (parsing and strict validation
// included). Redis is flushed between operations, untimed.
//
//	go test -run '^$' -bench BulkEnqueue -benchtime 5x ./enqueue/ -enqueue.jobs 100000
func BenchmarkBulkEnqueue(b *testing.B) {
	tb := newBundle(b)
	ctx := context.Background()
	n := *benchJobs
	var jsonl bytes.Buffer
	payloads := make([][]byte, n)
	for i := range n {
		payloads[i] = fmt.Appendf(nil, `{"ms":%d}`, i)
		fmt.Fprintf(&jsonl, `{"type":"demo.sleep","payload":%s}`+"\n", payloads[i])
	}
	flush := func(b *testing.B) {
		b.StopTimer()
		if err := tb.rdb.FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	}

	b.Run("loop-single-Enqueue", func(b *testing.B) {
		client := asynq.NewClientFromRedisClient(tb.rdb)
		for b.Loop() {
			flush(b)
			for _, p := range payloads {
				if _, err := client.EnqueueContext(ctx, asynq.NewTask("demo.sleep", p)); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b)
	})
	b.Run("bulk", func(b *testing.B) {
		for b.Loop() {
			flush(b)
			code := Main(ctx, tb.cfg, []string{"--file", "-"}, bytes.NewReader(jsonl.Bytes()), io.Discard, io.Discard,
				func(k string) string { return tb.env[k] })
			if code != ExitOK {
				b.Fatalf("exit %d", code)
			}
		}
		b.StopTimer()
		if got := tb.rdb.LLen(ctx, asynqdb.PendingKey("default")).Val(); got != int64(n) {
			b.Fatalf("%d pending, want %d", got, n)
		}
		report(b)
	})
}
