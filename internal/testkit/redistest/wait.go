package redistest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// requireTools skips tb when a program is missing from PATH, or fails it
// when JOBRUNNER_REQUIRE_REDIS=1: in CI nothing that needs Redis may
// silently skip.
func requireTools(tb testing.TB, names ...string) {
	tb.Helper()
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "redistest: " + strings.Join(missing, " and ") + " not found on PATH (Debian: apt-get install redis-server, which brings redis-tools)"
	if os.Getenv("JOBRUNNER_REQUIRE_REDIS") == "1" {
		tb.Fatal(msg + " and JOBRUNNER_REQUIRE_REDIS=1")
	}
	tb.Skip(msg + "; set JOBRUNNER_REQUIRE_REDIS=1 to make this a failure")
}

// withNode runs f with a short-lived client of the single server at addr:
// no retries and short timeouts, so a dead node answers at once.
func withNode[T any](addr string, f func(ctx context.Context, r *redis.Client) (T, error)) (T, error) {
	return withNodeAuth(addr, "", f)
}

// withNodeAuth is withNode for a server with a password.
func withNodeAuth[T any](addr, password string, f func(ctx context.Context, r *redis.Client) (T, error)) (T, error) {
	r := redis.NewClient(&redis.Options{
		Addr: addr, Password: password, MaxRetries: -1, DialTimeout: 500 * time.Millisecond,
		ReadTimeout: 2 * time.Second, PoolSize: 1,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return f(ctx, r)
}

// poll calls ready every 20ms until it returns nil, and returns its last
// error if that takes longer than within.
func poll(within time.Duration, ready func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.Join(errors.New("timed out after "+within.String()), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
