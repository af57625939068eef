package faulttest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial; the suite fails dials on purpose.
	redis.SetLogger(quietLogger{})
	goleak.VerifyTestMain(m,
		// A net/http keep-alive connection of the ops handler's test
		// requests, or a toxiproxy link whose peer has just closed, can
		// still be parked in the poller when the last test returns.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
