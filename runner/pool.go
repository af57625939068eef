package runner

import (
	"context"
	"sync"
	"time"
)

// pool runs the chain of each attempt on a long-lived goroutine. The chain
// runs apart from asynq's goroutine so that a handler that ignores
// cancellation can be handed over at the end of a drain (see handOver);
// reusing goroutines saves a job the cost of a new one and of growing its
// stack again, which a fresh goroutine pays on every job.
type pool struct {
	h     HandlerFunc
	work  chan poolItem
	quit  chan struct{} // closed when the runner has stopped
	dones sync.Pool     // of chan error with room for one result, empty
}

// poolItem is one attempt to run and where its result goes.
type poolItem struct {
	ctx  context.Context
	a    *Attempt
	done chan<- error
}

// poolIdle is how long an idle pool goroutine waits for work before it
// exits.
const poolIdle = 30 * time.Second

func newPool(h HandlerFunc) *pool {
	p := &pool{h: h, work: make(chan poolItem), quit: make(chan struct{})}
	p.dones.New = func() any { return make(chan error, 1) }
	return p
}

// done returns an empty channel with room for one result, for run.
func (p *pool) done() chan error { return p.dones.Get().(chan error) }

// reuse gives back a channel of done once its one result has been
// received. A channel whose result may still come (a handed-over attempt)
// is never given back.
func (p *pool) reuse(c chan error) { p.dones.Put(c) }

// run runs h(ctx, a) on an idle goroutine of the pool, or a new one, and
// sends its result to done (which must have room for it).
func (p *pool) run(ctx context.Context, a *Attempt, done chan<- error) {
	it := poolItem{ctx, a, done}
	select {
	case p.work <- it:
	default:
		go p.worker(it)
	}
}

func (p *pool) worker(it poolItem) {
	idle := time.NewTimer(poolIdle)
	defer idle.Stop()
	for {
		it.done <- p.h(it.ctx, it.a)
		it = poolItem{} // do not keep the attempt alive while idle
		idle.Reset(poolIdle)
		select {
		case it = <-p.work:
		case <-idle.C:
			return
		case <-p.quit:
			return
		}
	}
}

// stop makes idle goroutines exit; busy ones exit when their attempt ends.
func (p *pool) stop() { close(p.quit) }
