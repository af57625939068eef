package runner

import (
	"github.com/jobrunner/jobrunner/resilience"
	"github.com/jobrunner/jobrunner/schedule"
)

// These name, in package runner, the types a worker's configuration is made
// of, so that a worker program imports runner and job (and setup for the
// Redis client) and nothing else. They are the same types as in the
// packages that implement them, where their documentation lives.
type (
	// BreakersConfig configures the circuit breakers (Config.Breakers):
	// the default breaker, overrides per dependency, and the dependencies
	// whose breaker every replica shares through Redis. See
	// resilience.RegistryConfig.
	BreakersConfig = resilience.RegistryConfig

	// BreakerConfig is one breaker's configuration (BreakersConfig.Default
	// and .Dependencies). See resilience.BreakerConfig.
	BreakerConfig = resilience.BreakerConfig

	// Schedule is a periodic job (Runner.Schedule). See schedule.Schedule.
	Schedule = schedule.Schedule
)
