package enqueue

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// TestWaitSanitizesErrors runs a plain asynq worker, which stores its
// handler's error text as it is, and checks that --wait prints none of the
// secrets in it (text and JSON output), while the host and the operation
// stay readable: the CLI sanitizes on its own, as defence in depth.
func TestWaitSanitizesErrors(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	const redisPW, apiKey, userPW, extra = "r3dis-Pa55word", "k3y-abcdef", "hunter2-pw", "my-own-s3cret"
	rdb := b.rdb
	if !b.srv.Embedded {
		if err := b.rdb.ConfigSet(context.Background(), "requirepass", redisPW).Err(); err != nil {
			t.Fatal(err)
		}
		rdb = redis.NewClient(&redis.Options{Addr: b.srv.Addr, Password: redisPW})
		t.Cleanup(func() { rdb.Close() })
		b.env["REDIS_URL"] = "redis://:" + redisPW + "@" + b.srv.Addr
	}
	b.cfg.Sanitizer.Secrets = []string{extra}
	startWorker(t, rdb, asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		if strings.Contains(string(task.Payload()), "big") {
			return fmt.Errorf("%s: %w", strings.Repeat("body ", 200_000), asynq.SkipRetry)
		}
		return fmt.Errorf(`charge: Get "https://bob:%s@api.example.com/v1?api_key=%s": EOF; auth %s; note %s: %w`,
			userPW, apiKey, redisPW, extra, asynq.SkipRetry)
	}), "default")

	for _, output := range []string{"text", "json"} {
		r := b.run(t, "", "--wait", "--wait-timeout", "20s", "--output", output, echoType, `{"msg":"x"}`)
		if r.code != ExitArchived {
			t.Fatalf("%s: %+v", output, r)
		}
		all := r.stdout + r.stderr
		for _, s := range []string{apiKey, userPW, redisPW, extra} {
			if strings.Contains(all, s) {
				t.Errorf("%s output holds the secret %q:\n%s", output, s, all)
			}
		}
		if !strings.Contains(all, "api.example.com/v1?api_key=[redacted]") || !strings.Contains(all, "charge: Get") {
			t.Errorf("%s output lost the readable part:\n%s", output, all)
		}
	}

	r := b.run(t, "", "--wait", "--wait-timeout", "20s", echoType, `{"msg":"big"}`)
	if r.code != ExitArchived || len(r.stderr) > 2<<10+200 || !strings.Contains(r.stderr, "…[truncated: ") {
		t.Fatalf("a megabyte of error text: exit %d, %d bytes on stderr: %.300q", r.code, len(r.stderr), r.stderr)
	}
}
