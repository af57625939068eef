package fleet

import (
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/schedule"
)

// SampleMaxDefault is the default of Config.SampleMax.
const SampleMaxDefault = 1000

// Config says what Read reads: the deployment's configuration, as the
// worker has it.
type Config struct {
	// Redis is the deployment's Redis. Required.
	Redis redis.UniversalClient

	// Queues are the queues whose deferred jobs are counted. Defaults to
	// ["default"].
	Queues []string

	// Limits are the configured dependency limits, by dependency name.
	// Defaults to none.
	Limits map[string]Limit

	// Locks holds the limits' state. Defaults to a lockcore.RedisStore on
	// Redis with the default key prefix, as the worker's.
	Locks lockcore.Store

	// SharedBreakers names the dependencies whose breakers are shared
	// through Redis ("*" for all); the names in the breakers' index
	// (resilience.SharedNames) are read as well. Defaults to none.
	SharedBreakers []string

	// Schedules are the periodic jobs, with the queue of each one's job
	// type. Defaults to none.
	Schedules []Schedule

	// SampleMax bounds the tasks read per queue from each of its retry
	// and scheduled sets to count deferred jobs, soonest due first.
	// Defaults to SampleMaxDefault (1000).
	SampleMax int

	// BatchesMax bounds the batches read from the index of batches, the
	// newest first, to list those in progress. Defaults to
	// BatchesMaxDefault (50).
	BatchesMax int

	// Sanitize rewrites the error texts and deferral reasons Read returns.
	// Defaults to job.NewSanitizer(job.SanitizerConfig{}).Sanitize.
	Sanitize func(string) string

	// Now tells the time of the deferral notes (the runner's clock) and of
	// the schedules. Defaults to time.Now.
	Now func() time.Time
}

// Limit is a dependency's configured limits: a concurrency cap and a
// rate, either of which may be zero.
type Limit struct {
	// Concurrency is the most jobs holding the dependency at once; 0 is
	// no cap.
	Concurrency int
	// Rate is the most starts per interval; a zero N is no rate limit.
	Rate lockcore.Rate
}

// Schedule is a periodic job as Read reports it.
type Schedule struct {
	*schedule.Entry
	// Queue is the queue of the schedule's job type, where its ticks'
	// tasks go.
	Queue string
}

func (c Config) withDefaults() Config {
	if len(c.Queues) == 0 {
		c.Queues = []string{"default"}
	}
	if c.Locks == nil && c.Redis != nil {
		c.Locks = lockcore.NewRedisStore(c.Redis, lockcore.RedisConfig{})
	}
	if c.SampleMax <= 0 {
		c.SampleMax = SampleMaxDefault
	}
	if c.BatchesMax <= 0 {
		c.BatchesMax = BatchesMaxDefault
	}
	if c.Sanitize == nil {
		c.Sanitize = job.NewSanitizer(job.SanitizerConfig{}).Sanitize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// errNoRedis is Read's error for a Config without Redis.
var errNoRedis = errors.New("fleet: Config.Redis is nil")
