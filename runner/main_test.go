package runner_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-redis pools and asynq's client keep no goroutines once closed,
		// but the net/http test transport may linger briefly.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		// A go-redis pool that met a dial error keeps one redial goroutine
		// sleeping for up to a second after the client is closed.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	)
}
