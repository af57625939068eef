package runner

import "github.com/jobrunner/jobrunner/internal/lockcore"

// WithLocks returns cfg with s as the store of locks, dedupe markers,
// checkpoints and limits, for tests that need a MemoryStore (an injected
// clock, a simulated outage) in place of the one on Config.Redis.
func WithLocks(cfg Config, s lockcore.Store) Config {
	cfg.locks = s
	return cfg
}
