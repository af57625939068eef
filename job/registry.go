package job

import (
	"fmt"
	"slices"
	"sync"
)

// Registry maps task type names to specs. It is safe for concurrent use.
// The runner owns one; the enqueue CLI builds one from the same
// definitions, so both accept exactly the same payloads.
type Registry struct {
	mu    sync.RWMutex
	specs map[string]Spec
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{specs: make(map[string]Spec)} }

type checker interface{ check() error }

// Register adds specs. It fails, adding none, on a duplicate or empty type
// name or an incomplete definition.
func (r *Registry) Register(specs ...Spec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		if s == nil {
			return fmt.Errorf("job: register nil spec")
		}
		if c, ok := s.(checker); ok {
			if err := c.check(); err != nil {
				return err
			}
		}
		k := s.TypeName()
		if k == "" {
			return fmt.Errorf("job: register spec with an empty type")
		}
		if _, dup := r.specs[k]; dup || seen[k] {
			return fmt.Errorf("job %s: already registered", k)
		}
		seen[k] = true
	}
	for _, s := range specs {
		r.specs[s.TypeName()] = s
	}
	return nil
}

// Lookup returns the spec for a task type.
func (r *Registry) Lookup(typ string) (Spec, bool) {
	r.mu.RLock()
	s, ok := r.specs[typ]
	r.mu.RUnlock()
	return s, ok
}

// Types returns the registered type names in sorted order.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.specs))
	for k := range r.specs {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
