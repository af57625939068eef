package lockstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// Defaults used when a duration or the prefix is left zero.
const (
	// LockTTLDefault is the TTL of a lock.
	LockTTLDefault = 30 * time.Second
	// LockWaitDefault is how long Acquire waits for a busy lock.
	LockWaitDefault = 10 * time.Second
	// PrefixDefault starts every key, as the runner's do.
	PrefixDefault = "jobrunner"
)

var (
	// ErrNotObtained matches the error of an Acquire whose wait ran out
	// (or whose context ended) while another owner held the lock.
	ErrNotObtained = lockcore.ErrNotObtained
	// ErrLockLost matches the error of a lease that was lost: its deadline
	// passed without an extension, or its key was gone or taken. A job
	// whose lock or in-flight marker is lost while it runs has its context
	// cancelled with a cause that matches it. Circuit breakers ignore it.
	ErrLockLost = lockcore.ErrLockLost
)

// Config configures a Store. The zero value is ready to use.
type Config struct {
	// Prefix starts every key, as in "jobrunner:{invoice:123}:lock".
	// Defaults to PrefixDefault; keep it to exclude the runner's jobs
	// that declare the same lock key.
	Prefix string
	// RetryMin is the first pause between attempts on a busy lock.
	// Defaults to 10ms.
	RetryMin time.Duration
	// RetryMax caps the pause between attempts on a busy lock. Defaults
	// to 500ms.
	RetryMax time.Duration
}

// Store grants locks. It keeps no state beyond its configuration; any
// number of processes may share one Redis.
type Store struct {
	core lockcore.Store
}

// NewRedisStore returns a Store on client: a single node, a Sentinel
// failover client or a Cluster client. Give the client
// ContextTimeoutEnabled (setup.NewRedisClient does), or a call on a Redis
// that hangs waits for the client's read timeout instead of the context.
func NewRedisStore(client redis.UniversalClient, cfg Config) *Store {
	return &Store{core: lockcore.NewRedisStore(client, lockcore.RedisConfig{Prefix: cfg.Prefix, RetryMin: cfg.RetryMin, RetryMax: cfg.RetryMax})}
}

// NewMemoryStore returns a Store in this process's memory, with the
// semantics of a Redis one: for unit tests and single-process programs.
// Its locks mean nothing to other processes.
func NewMemoryStore(cfg Config) *Store {
	return &Store{core: lockcore.NewMemoryStore(lockcore.MemoryConfig{
		Prefix: cfg.Prefix, RetryMin: cfg.RetryMin, RetryMax: cfg.RetryMax,
	})}
}

// Acquire takes the lock of key for ttl, waiting up to wait while another
// owner holds it. A zero ttl means LockTTLDefault, a zero wait
// LockWaitDefault, a negative wait a single attempt. When the wait runs out
// or ctx ends first, the error matches ErrNotObtained.
func (s *Store) Acquire(ctx context.Context, key string, ttl, wait time.Duration) (*Lease, error) {
	l, err := s.core.Acquire(ctx, key, ttl, wait)
	if err != nil {
		return nil, err
	}
	return &Lease{l: l}, nil
}
