// Package setup holds what a worker's main and a producer's main share:
// reading the Redis URL from configuration and printing it without its
// password, and building the process's zerolog logger. It imports neither
// the runner nor the enqueue command, so that a producer binary does not
// pull in the worker.
//
// # Redis URLs
//
// [ParseRedisURL] turns redis://, rediss://, redis-sentinel:// and
// redis-cluster:// URLs into options for redis.NewUniversalClient, with
// errors that never contain the password; [RedactURL] is the only way such
// a URL should reach a log line or an error:
//
//	opts, err := setup.ParseRedisURL(os.Getenv("REDIS_URL"))
//	if err != nil {
//		return fmt.Errorf("REDIS_URL %s: %w", setup.RedactURL(os.Getenv("REDIS_URL")), err)
//	}
//	rdb := redis.NewUniversalClient(opts)
//
// # Logs
//
// [NewLogger] builds the JSON (or console) zerolog logger of a main from
// LOG_LEVEL and LOG_FORMAT.
package setup
