package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (the subprocess
// tests' log readers end when their worker exits).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// A go-redis pool that met a dial error (the tests kill and stop
		// Redis) keeps one redial goroutine sleeping for up to a second
		// after the client is closed.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	)
}
