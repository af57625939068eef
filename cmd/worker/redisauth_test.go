package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestWrongRedisPasswordSaysAuthentication: a wrong password is reported as
// what it is, not as "unreachable: WRONGPASS": at start (worker.failed,
// exit 1) and, when the password changes under a running worker, on
// /readyz.
func TestWrongRedisPasswordSaysAuthentication(t *testing.T) {
	srv := redistest.Start(t)
	if srv.Embedded {
		t.Skip("miniredis has no CONFIG SET; CI runs this on redis-server")
	}
	ctx := context.Background()
	if err := srv.Client().ConfigSet(ctx, "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	w := workertest.StartNoWait(t, nil, []string{"REDIS_URL=redis://:wrong@" + srv.Addr})
	if code := w.Wait(20 * time.Second); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	failed := w.Lines("worker.failed")
	if len(failed) != 1 || !strings.Contains(failed[0].Str("error"), "redis authentication failed (check the user and password of the URL): WRONGPASS") {
		t.Fatalf("worker.failed = %v", failed)
	}

	w = workertest.Start(t, nil, []string{"REDIS_URL=redis://:s3cret@" + srv.Addr})
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: "s3cret"})
	defer admin.Close()
	// A new password, and every connection dropped: the worker's next
	// connections are refused.
	if err := admin.ConfigSet(ctx, "requirepass", "rotated").Err(); err != nil {
		t.Fatal(err)
	}
	_ = admin.ClientKillByFilter(ctx, "TYPE", "normal").Err()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := w.Get("/readyz")
		if code == 503 && strings.HasPrefix(body, "redis authentication failed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %q, want 503 redis authentication failed", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
