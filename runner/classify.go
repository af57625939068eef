package runner

// classify is the retry-classification layer (not yet wired).
func (r *Runner) classify(next HandlerFunc) HandlerFunc { return next }
