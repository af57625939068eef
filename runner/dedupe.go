package runner

// dedupe is the processing-marker dedupe layer (not yet wired).
func (r *Runner) dedupe(next HandlerFunc) HandlerFunc { return next }
