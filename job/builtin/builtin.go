package builtin

import "github.com/jobrunner/jobrunner/job"

// Config configures the built-in jobs. The zero value is valid.
type Config struct {
	// WebhookDenyPrivate refuses webhook destinations on loopback and
	// private ranges (set WEBHOOK_DENY_PRIVATE=true in production).
	// Link-local and cloud-metadata addresses are always refused. Defaults
	// to false.
	WebhookDenyPrivate bool
}

// Specs returns the built-in job types.
func Specs(cfg Config) []job.Spec {
	return []job.Spec{Sleep(), Webhook(cfg), BatchReport()}
}

// Registry returns a registry holding the built-in job types.
func Registry(cfg Config) *job.Registry {
	r := job.NewRegistry()
	if err := r.Register(Specs(cfg)...); err != nil {
		panic(err) // the built-ins are static: a failure is a programming error
	}
	return r
}
