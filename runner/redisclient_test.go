package runner_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/runner"
	jrsetup "github.com/jobrunner/jobrunner/setup"
)

// TestNewRefusesClientsThatIgnoreDeadlines: a go-redis client without
// ContextTimeoutEnabled would make every deadline of the runner a wait for
// the client's ReadTimeout on a Redis that hangs; New says what to set.
func TestNewRefusesClientsThatIgnoreDeadlines(t *testing.T) {
	plain := []redis.UniversalClient{
		redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}),
		redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}}),
		redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"127.0.0.1:1"}}),
	}
	for _, c := range plain {
		defer c.Close()
		_, err := runner.New(runner.Config{Redis: c})
		if err == nil || !strings.Contains(err.Error(), "ContextTimeoutEnabled") || !strings.Contains(err.Error(), "setup.NewRedisClient") {
			t.Errorf("New with a %T without ContextTimeoutEnabled: %v, want an error naming ContextTimeoutEnabled and setup.NewRedisClient", c, err)
		}
	}
	for _, url := range []string{"redis://127.0.0.1:1", "redis-cluster://127.0.0.1:1", "redis-sentinel://127.0.0.1:1?master=m"} {
		opts, err := jrsetup.ParseRedisURL(url)
		if err != nil {
			t.Fatal(err)
		}
		c := jrsetup.NewRedisClient(opts)
		defer c.Close()
		if _, err := runner.New(runner.Config{Redis: c}); err != nil {
			t.Errorf("New with setup.NewRedisClient(%s): %v", url, errors.Unwrap(err))
		}
	}
}
