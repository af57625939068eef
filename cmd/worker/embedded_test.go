package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// enqueueSleep enqueues a demo.sleep job on the Redis at addr.
func enqueueSleep(t *testing.T, addr string) string {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	info, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask("demo.sleep", []byte(`{"ms":1}`)))
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

func TestEmbeddedRedisWhenNothingListens(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	w := workertest.Start(t, nil, []string{"JOBRUNNER_LOCAL_REDIS_ADDR=" + addr})
	l := w.WaitEvent("redis.embedded", time.Second)
	if l.Str("level") != "warn" || !strings.Contains(l.Str("message"), "NOTHING PERSISTS") {
		t.Fatalf("embedded warning = %v", l)
	}
	// The probe of the local port finds nothing listening without go-redis
	// warning "failed to dial": the embedded default starts quietly, with
	// the one warning above.
	for _, l := range w.Lines("") {
		if l.Str("level") == "warn" && l.Str("event") != "redis.embedded" {
			t.Errorf("a warning at start: %v", l)
		}
	}
	id := enqueueSleep(t, addr)
	w.WaitFor(10*time.Second, func(l workertest.Line) bool { return l.Str("event") == "job.done" && l.Str("task_id") == id })
	if code, _ := w.Get("/readyz"); code != 200 {
		t.Fatalf("readyz = %d", code)
	}
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestLocalRedisUsedWhenItAnswers(t *testing.T) {
	srv := redistest.Start(t)
	w := workertest.Start(t, nil, []string{"JOBRUNNER_LOCAL_REDIS_ADDR=" + srv.Addr})
	if len(w.Lines("redis.embedded")) != 0 {
		t.Fatal("started an embedded Redis although one answers")
	}
	if got := w.Lines("redis.connecting"); len(got) != 1 || got[0].Str("url") != "redis://"+srv.Addr {
		t.Fatalf("redis.connecting = %v", got)
	}
	id := enqueueSleep(t, srv.Addr)
	if _, ok := w.WaitFor(10*time.Second, func(l workertest.Line) bool { return l.Str("event") == "job.done" && l.Str("task_id") == id }); !ok {
		t.Fatal("job did not run")
	}
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestLocalPortTakenByNonRedisExits1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	w := workertest.StartNoWait(t, nil, []string{"JOBRUNNER_LOCAL_REDIS_ADDR=" + ln.Addr().String()})
	if code := w.Wait(10 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	failed := w.Lines("worker.failed")
	if len(failed) != 1 || !strings.Contains(failed[0].Str("error"), "embedded Redis could not start") {
		t.Fatalf("worker.failed = %v\n%s", failed, w.Raw())
	}
}

func TestRedisURLPasswordNeverLogged(t *testing.T) {
	srv := redistest.Start(t)
	if srv.Embedded {
		t.Skip("miniredis has no CONFIG SET; CI runs this on redis-server")
	}
	rdb := srv.Client()
	if err := rdb.ConfigSet(context.Background(), "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	w := workertest.Start(t, nil, []string{"REDIS_URL=redis://:s3cret@" + srv.Addr})
	w.Signal(syscall.SIGTERM)
	w.Wait(10 * time.Second)
	if strings.Contains(w.Raw()+w.Stderr(), "s3cret") {
		t.Fatalf("password in output:\n%s", w.Raw())
	}
	if !strings.Contains(w.Raw(), "redis://:xxxxx@") {
		t.Fatalf("redacted URL not logged:\n%s", w.Raw())
	}
}

// TestNoEmbeddedRedisInKubernetes: inside Kubernetes a worker with REDIS_URL
// unset and nothing on the local port must refuse to start (exit 2, one
// line naming REDIS_URL) instead of reporting ready on a private in-memory
// Redis while the real queue waits.
func TestNoEmbeddedRedisInKubernetes(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	w := workertest.StartNoWait(t, nil, []string{
		"JOBRUNNER_LOCAL_REDIS_ADDR=127.0.0.1:" + strconv.Itoa(port), "KUBERNETES_SERVICE_HOST=10.96.0.1",
	})
	if code := w.Wait(20 * time.Second); code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, w.Raw())
	}
	failed := w.Lines("worker.failed")
	if len(failed) != 1 || !strings.Contains(failed[0].Str("error"), "set REDIS_URL") {
		t.Fatalf("worker.failed lines = %v", failed)
	}
	if len(w.Lines("redis.embedded")) != 0 || len(w.Lines("worker.started")) != 0 {
		t.Fatal("started on an embedded Redis")
	}
}
