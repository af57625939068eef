package main

import (
	"github.com/jobrunner/jobrunner/setup"
	"github.com/jobrunner/jobrunner/setup/otlp"
)

// workerSecrets returns the secrets of the worker's own configuration,
// which its sanitizer blanks wherever they turn up in an error text: the
// passwords of REDIS_URL (Sentinel's included) and the values of the OTLP
// exporter's headers.
func workerSecrets(redisURL string, getenv func(string) string) []string {
	var s []string
	if redisURL != "" {
		if opts, err := setup.ParseRedisURL(redisURL); err == nil {
			s = setup.RedisSecrets(opts)
		}
	}
	return append(s, otlp.HeaderSecrets(getenv)...)
}
