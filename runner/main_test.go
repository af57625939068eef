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
	)
}
