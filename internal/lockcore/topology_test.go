package lockcore_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/lockcore/lockcoretest"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestRedisStoreTopologies runs the acceptance suite on a single Redis, a
// 3-primary cluster and behind Sentinel, one topology per subtest.
func TestRedisStoreTopologies(t *testing.T) {
	t.Parallel()
	for _, topo := range redistest.Topologies() {
		t.Run(topo.Name, func(t *testing.T) {
			t.Parallel()
			env := topo.Start(t)
			lockcoretest.Run(t, func(t *testing.T) lockcore.Store {
				return lockcore.NewRedisStore(env.Client, lockcore.RedisConfig{
					Prefix:   "test-" + uuid.NewString()[:8],
					RetryMax: testRetryMax,
				})
			})
		})
	}
}
