package runner

import (
	"errors"

	"github.com/redis/go-redis/v9"
)

// errNoContextTimeouts is what New says of a client that ignores context
// deadlines.
var errNoContextTimeouts = errors.New("runner: Config.Redis ignores context deadlines (go-redis's ContextTimeoutEnabled is false): " +
	"on a Redis that hangs every call would wait for the client's ReadTimeout whatever the runner's deadlines say, " +
	"so readiness, lock renewal and the drain would overrun; build the client with setup.NewRedisClient, " +
	"or set ContextTimeoutEnabled: true in its options")

// checkContextTimeouts returns errNoContextTimeouts for a go-redis client
// built without ContextTimeoutEnabled. Other implementations of
// redis.UniversalClient (a user's wrapper) cannot be inspected and are
// taken as they are.
func checkContextTimeouts(c redis.UniversalClient) error {
	enabled := true
	switch c := c.(type) {
	case *redis.Client:
		enabled = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		enabled = c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		enabled = c.Options().ContextTimeoutEnabled
	}
	if !enabled {
		return errNoContextTimeouts
	}
	return nil
}
