package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// tookRE matches the duration of an outcome line ("completed ID in 512ms").
var tookRE = regexp.MustCompile(` in [0-9.]+(ns|µs|ms|s|m[0-9.]+s)\b`)

// startWorker runs a real asynq server on rdb for the test's lifetime.
func startWorker(t *testing.T, rdb redis.UniversalClient, h asynq.Handler, queues ...string) {
	t.Helper()
	qs := map[string]int{}
	for _, q := range queues {
		qs[q] = 1
	}
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              4,
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 0 },
		Queues:                   qs,
		TaskCheckInterval:        20 * time.Millisecond,
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		LogLevel:                 asynq.FatalLevel,
		ShutdownTimeout:          2 * time.Second,
	})
	if err := srv.Start(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
}

// echoHandler writes "echo: MSG" as the result of test.echo tasks, fails
// for good when asked to, and counts the tasks it completes.
func echoHandler(done *atomic.Int64) asynq.HandlerFunc {
	return func(ctx context.Context, task *asynq.Task) error {
		var p echoPayload
		if task.Type() == echoType {
			if err := json.Unmarshal(task.Payload(), &p); err != nil {
				return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
			}
			if p.Fail {
				return fmt.Errorf("echo refused %q\nsecond line: %w", p.Msg, asynq.SkipRetry)
			}
			if n, _ := asynq.GetRetryCount(ctx); p.FailOnce && n == 0 {
				return errors.New("echo: first attempt fails")
			}
			if _, err := task.ResultWriter().Write([]byte("echo: " + p.Msg)); err != nil {
				return err
			}
		}
		done.Add(1)
		return nil
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	var done atomic.Int64
	startWorker(t, b.rdb, echoHandler(&done), "default")

	t.Run("completed", func(t *testing.T) {
		r := b.run(t, "", "--wait", "--wait-timeout", "20s", "--task-id", "w1", echoType, `{"msg":"hello"}`)
		if r.code != ExitOK || !tookRE.MatchString(r.stdout) || r.stderr != "" {
			t.Fatalf("run = %+v", r)
		}
		if got := tookRE.ReplaceAllString(r.stdout, " in T"); got != "enqueued w1 on queue default\ncompleted w1 in T\necho: hello\n" {
			t.Fatalf("stdout = %q", got)
		}
		info, err := b.inspector().GetTaskInfo("default", "w1")
		if err != nil || info.Retention != WaitRetentionDefault {
			t.Fatalf("retention not set: %+v %v", info, err)
		}
	})
	t.Run("completed-json", func(t *testing.T) {
		r := b.run(t, "", "--wait", "--output", "json", "--retention", "5m", echoType, `{"msg":"j"}`)
		var got taskJSON
		if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &got) != nil || got.State != "completed" ||
			got.Result == nil || *got.Result != "echo: j" || got.Retention != "5m0s" {
			t.Fatalf("run = %+v", r)
		}
	})
	t.Run("completed without a result", func(t *testing.T) {
		r := b.run(t, "", "--wait", "--task-id", "w0", "demo.sleep", `{"ms":1}`)
		if got := tookRE.ReplaceAllString(r.stdout, " in T"); r.code != ExitOK || got != "enqueued w0 on queue default\ncompleted w0 in T\n" {
			t.Fatalf("run = %+v", r)
		}
	})
	t.Run("archived", func(t *testing.T) {
		r := b.run(t, "", "--wait", "--task-id", "w2", "--max-retry", "0", echoType, `{"msg":"no","fail":true}`)
		if r.code != ExitArchived || !tookRE.MatchString(r.stdout) {
			t.Fatalf("run = %+v", r)
		}
		r.stdout = tookRE.ReplaceAllString(r.stdout, " in T")
		golden(t, "errors/wait-archived.golden", r.String())
	})
	t.Run("failed then completed", func(t *testing.T) {
		r := b.run(t, "", "--wait", "--task-id", "w5", echoType, `{"msg":"again","fail_once":true}`)
		got := tookRE.ReplaceAllString(r.stdout, " in T")
		// The retry can run before the CLI looks: the failure line is
		// printed when a poll sees it.
		want := "enqueued w5 on queue default\nfailed w5 in T (attempt 1), retrying: echo: first attempt fails\ncompleted w5 in T\necho: again\n"
		if r.code != ExitOK || (got != want && got != "enqueued w5 on queue default\ncompleted w5 in T\necho: again\n") {
			t.Fatalf("run = %+v", r)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		// Nobody serves queue "idle".
		r := b.run(t, "", "--wait", "--wait-timeout", "300ms", "--task-id", "w3", "--queue", "idle", echoType, `{"msg":"x"}`)
		if r.code != ExitWaitTimeout {
			t.Fatalf("run = %+v", r)
		}
		golden(t, "errors/wait-timeout.golden", r.String())
	})
	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		var out, errOut strings.Builder
		code := Main(ctx, b.cfg, []string{"--wait", "--queue", "idle", echoType, `{"msg":"y"}`}, nil, &out, &errOut,
			func(string) string { return b.srv.URL() })
		if code != ExitInterrupted || ExitInterrupted != 130 || !strings.Contains(errOut.String(), "interrupted while waiting") {
			t.Fatalf("exit %d, %q", code, errOut.String())
		}
	})
	t.Run("vanished", func(t *testing.T) {
		// A task deleted while we wait (e.g. by asynq's RevokeTask or an
		// operator) is reported, not waited on forever.
		go func() {
			time.Sleep(200 * time.Millisecond)
			_ = b.inspector().DeleteTask("idle", "w4")
		}()
		r := b.run(t, "", "--wait", "--task-id", "w4", "--queue", "idle", echoType, `{"msg":"z"}`)
		if r.code != ExitError || !strings.Contains(r.stderr, "vanished") {
			t.Fatalf("run = %+v", r)
		}
	})
}
