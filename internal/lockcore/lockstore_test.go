package lockcore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/lockcore/lockcoretest"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("LOCKSTORE_HOLDER_ADDR"); addr != "" {
		runHolder(addr, os.Getenv("LOCKSTORE_HOLDER_TTL")) // child of TestRedisHolderProcessKilled
	}
	// go-redis logs every failed dial and every sentinel switch; the
	// topology and failover tests cause both on purpose.
	redis.SetLogger(quietLogger{})
	goleak.VerifyTestMain(m,
		// After a failed dial go-redis probes the server again from a
		// goroutine that sleeps 1s before it sees its pool was closed.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// Short retries keep the contention tests quick.
const testRetryMax = 50 * time.Millisecond

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	lockcoretest.Run(t, func(t *testing.T) lockcore.Store {
		return lockcore.NewMemoryStore(lockcore.MemoryConfig{RetryMax: testRetryMax})
	})
}

// TestRedisStore: see TestRedisStoreTopologies, which runs the suite on a
// single Redis, a cluster and Sentinel.
