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
		// toxiproxy v2.5.0 can leave a link's no-op toxic stub blocked on
		// its channel when a toxic is removed while data flows (seen once
		// in a loaded full run): the library's goroutine, not ours.
		goleak.IgnoreTopFunction("github.com/Shopify/toxiproxy/v2/toxics.(*NoopToxic).Pipe"),
		// A go-redis pool that met a dial error keeps one redial goroutine
		// sleeping for up to a second after the client is closed.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
