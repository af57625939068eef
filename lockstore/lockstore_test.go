package lockstore_test

import (
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/jobrunner/jobrunner/lockstore"
	"github.com/jobrunner/jobrunner/lockstore/lockstoretest"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("LOCKSTORE_HOLDER_ADDR"); addr != "" {
		runHolder(addr, os.Getenv("LOCKSTORE_HOLDER_TTL")) // child of TestRedisHolderProcessKilled
	}
	goleak.VerifyTestMain(m)
}

// Short retries keep the contention tests quick.
const testRetryMax = 50 * time.Millisecond

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	lockstoretest.Run(t, func(t *testing.T) lockstore.Store {
		return lockstore.NewMemoryStore(lockstore.MemoryConfig{RetryMax: testRetryMax})
	})
}

func TestRedisStore(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	client := srv.Client()
	lockstoretest.Run(t, func(t *testing.T) lockstore.Store {
		// One server for the suite; a prefix of its own per test.
		return lockstore.NewRedisStore(client, lockstore.RedisConfig{
			Prefix:   "test-" + uuid.NewString()[:8],
			RetryMax: testRetryMax,
		})
	})
}
