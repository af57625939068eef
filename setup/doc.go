// Package setup holds what a worker's main and a producer's main share:
// reading the Redis URL from configuration and printing it without its
// password, and building the process's zerolog logger. It imports neither
// the runner nor the enqueue command, so that a producer binary does not
// pull in the worker.
//
// # Redis URLs
//
// [ParseRedisURL] turns redis://, rediss://, redis-sentinel://,
// rediss-sentinel:// and redis-cluster:// URLs into options for
// redis.NewUniversalClient, with errors that never contain a password. A
// Sentinel URL's userinfo is the sentinels' credentials (as in asynq) and
// its username= and password= parameters the data nodes'. [RedactURL] is
// the only way such a URL should reach a log line or an error: it hides
// the userinfo's password and every query value but master, username and
// addr.
//
//	opts, err := setup.ParseRedisURL(os.Getenv("REDIS_URL"))
//	if err != nil {
//		return fmt.Errorf("REDIS_URL %s: %w", setup.RedactURL(os.Getenv("REDIS_URL")), err)
//	}
//	rdb := setup.NewRedisClient(opts)
//
// [NewRedisClient] is redis.NewUniversalClient, except that on Redis
// Cluster it reloads the slot map when a command fails, so that it follows
// a failover within about a second instead of go-redis's minute.
//
// # Logs
//
// [NewLogger] builds the JSON (or console, coloured only on a terminal)
// zerolog logger of a main from LOG_LEVEL and LOG_FORMAT.
// [RouteRedisLogs] sends go-redis's own log lines, which it otherwise
// prints to stderr as plain text, into that logger as rate-limited JSON:
//
//	log, err := setup.NewLogger(os.Stdout, os.Getenv("LOG_LEVEL"), os.Getenv("LOG_FORMAT"))
//	if err != nil {
//		return err
//	}
//	setup.RouteRedisLogs(log) // once, from main: go-redis's logger is process-wide
//
// See docs/configuration.md for the settings a main reads.
package setup
