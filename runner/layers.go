package runner

// The inner layers are filled in by their own files as they land; until
// then they are nil and chain skips them.
var (
	_ = (*Runner).dedupe
)

func (r *Runner) dedupe(next HandlerFunc) HandlerFunc   { return next }
func (r *Runner) lock(next HandlerFunc) HandlerFunc     { return next }
func (r *Runner) breaker(next HandlerFunc) HandlerFunc  { return next }
func (r *Runner) classify(next HandlerFunc) HandlerFunc { return next }
