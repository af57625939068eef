package runner

// lock is the distributed-lock layer (not yet wired).
func (r *Runner) lock(next HandlerFunc) HandlerFunc { return next }
