package runner

// breaker is the circuit-breaker layer (not yet wired).
func (r *Runner) breaker(next HandlerFunc) HandlerFunc { return next }
