package lockstore_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/lockstore"
	"github.com/jobrunner/jobrunner/lockstore/lockstoretest"
)

// TestRedisStoreTopologies runs the acceptance suite on a single Redis, a
// 3-primary cluster and behind Sentinel, one topology per subtest.
func TestRedisStoreTopologies(t *testing.T) {
	t.Parallel()
	for _, topo := range redistest.Topologies() {
		t.Run(topo.Name, func(t *testing.T) {
			t.Parallel()
			env := topo.Start(t)
			lockstoretest.Run(t, func(t *testing.T) lockstore.Store {
				return lockstore.NewRedisStore(env.Client, lockstore.RedisConfig{
					Prefix:   "test-" + uuid.NewString()[:8],
					RetryMax: testRetryMax,
				})
			})
		})
	}
}
