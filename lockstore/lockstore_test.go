package lockstore_test

import (
	"os"
	"testing"
	"time"

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

// TestRedisStore: see TestRedisStoreTopologies, which runs the suite on a
// single Redis, a cluster and Sentinel.
