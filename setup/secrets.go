package setup

import "github.com/redis/go-redis/v9"

// RedisSecrets returns the passwords in opts (the server's and, for
// Sentinel, the sentinels'), for a sanitizer's literal secrets
// (job.SanitizerConfig.Secrets): a worker's error texts must never carry
// them, in whatever text they turn up.
func RedisSecrets(opts *redis.UniversalOptions) []string {
	if opts == nil {
		return nil
	}
	var s []string
	for _, p := range []string{opts.Password, opts.SentinelPassword} {
		if p != "" {
			s = append(s, p)
		}
	}
	return s
}
