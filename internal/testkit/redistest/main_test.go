package redistest_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial; failover tests fail dials on purpose.
	redis.SetLogger(quietLogger{})
	goleak.VerifyTestMain(m,
		// After a failed dial go-redis probes the server again from a
		// goroutine that sleeps 1s before it sees its pool was closed.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
