package faulttest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// The chaos run's settings. The figures in the README's "Faults we test"
// section come from runs with these.
const (
	// chaosWindow is how long faults strike and jobs are enqueued.
	chaosWindow = 40 * time.Second
	// chaosSlots worker processes run at once (each WORKER_CONCURRENCY
	// chaosConcurrency); the faults take down one at a time, so at least
	// chaosSlots-1 serve the schedule at every tick.
	chaosSlots       = 3
	chaosConcurrency = 4
	// chaosSettleMax bounds the time from the last fault to every job in
	// its final state and every tick run.
	chaosSettleMax = 90 * time.Second
	// chaosAbandoned: a task whose asynq lease has not been extended for
	// this long once the faults are over belongs to no live worker (a
	// worker's heartbeat extends its leases every 5s: three beats were
	// missed). The settle makes such leases look expired, which is what
	// asynq's lease recovery would find 60-120s after the worker died,
	// and starts a worker, whose recovery runs at once.
	chaosAbandoned = 15 * time.Second
	// The dependency with a concurrency limit, and the limit.
	chaosDep      = "chaos-api"
	chaosDepLimit = 2
	// chaosSchedule ticks every second on every worker.
	chaosScheduleName = "chaos-tick"
	chaosSchedule     = `@every 1s fault.tick {"ms":20} name=` + chaosScheduleName
	// The lock keys the jobs contend for, and the locks' TTL: shorter
	// than the longest Redis pause, so that some leases run out.
	chaosLocks   = 3
	chaosLockTTL = 2 * time.Second
)

// chaosDrainMax is the longest a testworker's drain may take whatever
// Redis does.
var chaosDrainMax = MaxDrain()

// TestChaos drives chaosSlots testworker processes, with jobs carrying
// dedupe keys, locks on a fenced resource (the ledger), a dependency with
// a concurrency limit, and a schedule ticking every second, through a
// seeded random mix of faults for chaosWindow: Redis stopped (SIGSTOP) and
// continued, latency and dropped traffic (toxiproxy latency and timeout
// toxics, beyond the clients' 400ms read timeout at times), Redis killed
// and restarted (AOF, appendfsync always), and workers SIGKILLed or
// SIGTERMed and started again. Once the faults stop and everything has
// settled, it checks (chaos_check_test.go):
//
//   - every job's effect was applied at least once, and a second time only
//     where the worker ended between the effect and the job's completion
//     record (SIGKILLed, or a drain that Redis did not answer: asynq
//     delivers at least once; see the README's "Faults we test" for what
//     exactly-once means here), or where the run's lease ran out and it was
//     told so;
//   - the fenced resource accepted writes per lock in fence order only, and
//     refused none from a holder that had not been told its lock was lost;
//     no two runs held a lock or dedupe key at once unless the earlier
//     one's lease ran out and it was told so;
//   - the dependency never had more than its limit of runs at once;
//   - every tick of the schedule ran, once;
//   - only the jobs that fail for good were archived; nothing is left in
//     the queue but ticks due after the workers stopped;
//   - everything settled within chaosSettleMax of the last fault, and every
//     SIGTERM drain ended within MaxDrain;
//   - Redis holds only asynq's keys and the documented jobrunner records,
//     each with its TTL; no lock, marker or concurrency slot is left held.
//
// The seed is logged first; JOBRUNNER_CHAOS_SEED=<seed> replays the same
// faults at the same times and the same jobs (the interleaving with the
// processes' own timing differs). Skipped with -short.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the chaos run takes over a minute")
	}
	t.Parallel()
	seed := chaosSeed(t)
	t.Logf("chaos seed %d (replay: JOBRUNNER_CHAOS_SEED=%d go test -race -run TestChaos ./internal/testkit/faulttest/)", seed, seed)
	c := newChaos(t)
	t.Cleanup(func() {
		if t.Failed() {
			c.saveLogs()
			t.Logf("chaos run failed; replay with JOBRUNNER_CHAOS_SEED=%d (JOBRUNNER_CHAOS_LOGS=<dir> keeps every worker's whole log)", seed)
		}
	})
	plan := c.plan(rand.New(rand.NewPCG(seed, 1)), chaosWindow)
	for _, f := range plan {
		t.Logf("plan %6.2fs %s", f.at.Seconds(), f.name)
	}

	c.began = time.Now()
	for i := range chaosSlots {
		c.start(i)
	}
	for _, s := range c.slots {
		s.proc.w.WaitEvent("worker.started", 60*time.Second)
	}
	// The first tick every worker has had time to enqueue.
	c.tickFrom = time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second)

	stop := make(chan struct{})
	produced := make(chan error, 1)
	go func() { produced <- c.produce(rand.New(rand.NewPCG(seed, 2)), stop) }()
	c.run(plan)
	close(stop)
	if err := <-produced; err != nil {
		t.Fatalf("producer: %v", err)
	}
	c.healed = time.Now()
	c.settle(c.healed)
	c.settled = time.Since(c.healed)
	c.drainAll()
	c.check()
}

// chaosSeed returns JOBRUNNER_CHAOS_SEED, or a new seed.
func chaosSeed(t *testing.T) uint64 {
	if v := os.Getenv("JOBRUNNER_CHAOS_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("JOBRUNNER_CHAOS_SEED=%q: want an unsigned integer", v)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// saveLogs writes every worker's whole output to the directory
// JOBRUNNER_CHAOS_LOGS names, if it does, as <process>.log.
func (c *chaos) saveLogs() {
	dir := os.Getenv("JOBRUNNER_CHAOS_LOGS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Log(err)
		return
	}
	for name, p := range c.procs {
		out := p.w.Raw() + "\n--- stderr ---\n" + p.w.Stderr()
		if err := os.WriteFile(filepath.Join(dir, name+".log"), []byte(out), 0o644); err != nil {
			c.t.Log(err)
		}
	}
	c.t.Logf("worker logs written to %s", dir)
}

// chaos is the world of one chaos run.
type chaos struct {
	t   *testing.T
	e   *env
	bin string
	env []string // every worker's environment

	slots []*chaosSlot
	procs map[string]*chaosProc // by name, every process started

	mu       sync.Mutex
	jobs     map[string]WorkPayload // task ID -> payload
	groups   map[string][]string    // dedupe key -> task IDs
	drains   []drainRecord
	faults   map[string]int // by kind, injected
	tickFrom time.Time      // the first tick checked
	tickTo   time.Time      // the last tick checked
	unexpect []string       // processes that exited unasked
	sweeps   int            // leases made to look expired, settling
	began    time.Time      // the first worker started
	healed   time.Time      // the end of the last fault
	settled  time.Duration  // from healed to everything settled
}

// chaosSlot is a place for one worker process, as a Deployment's replica.
type chaosSlot struct {
	gen  int
	proc *chaosProc
}

type chaosProc struct {
	name     string
	w        *workertest.Worker
	killed   time.Time // SIGKILLed by the test, if it was
	termSent time.Time // SIGTERM sent by the test, if it was
}

// drainRecord is one SIGTERM: how long the process took to exit, and how.
type drainRecord struct {
	proc string
	took time.Duration
	code int
	// afterFaults: the faults were over (settling, or the final drain).
	afterFaults bool
}

func newChaos(t *testing.T) *chaos {
	e := newEnv(t, envOptions{AOF: true, Proxy: true})
	c := &chaos{
		t: t, e: e, bin: workertest.Build(t, "./internal/testkit/faulttest/testworker"),
		env: []string{
			"REDIS_URL=" + e.proxy.Addr, "LEDGER_ADDR=" + e.ledgerSrv.Addr, "LOG_LEVEL=debug",
			"WORKER_CONCURRENCY=" + strconv.Itoa(chaosConcurrency),
			fmt.Sprintf("WORKER_DEPENDENCY_LIMITS=%s=concurrency:%d", chaosDep, chaosDepLimit),
			"WORKER_SCHEDULES=" + chaosSchedule,
		},
		procs:  map[string]*chaosProc{},
		jobs:   map[string]WorkPayload{},
		groups: map[string][]string{},
		faults: map[string]int{},
	}
	for range chaosSlots {
		c.slots = append(c.slots, &chaosSlot{})
	}
	// A test that fails mid-plan leaves Redis running for the cleanups.
	t.Cleanup(e.redis.Resume)
	return c
}

// start starts a new worker process in slot i, without waiting for it.
func (c *chaos) start(i int) {
	s := c.slots[i]
	s.gen++
	name := fmt.Sprintf("w%d.%d", i, s.gen)
	p := &chaosProc{name: name, w: workertest.Run(c.t, c.bin, nil, append([]string{"WORKER_PROC=" + name}, c.env...))}
	s.proc = p
	c.procs[name] = p
}

// kill SIGKILLs slot i's process and tells the ledger, which ends the
// process's open runs.
func (c *chaos) kill(i int) {
	p := c.slots[i].proc
	p.killed = time.Now()
	p.w.Kill()
	if err := c.e.ledger.Kill(context.Background(), p.name); err != nil {
		c.t.Fatalf("ledger: %v", err)
	}
}

// term sends SIGTERM to slot i's process and notes how long its drain
// takes.
func (c *chaos) term(i int) {
	p := c.slots[i].proc
	p.termSent = time.Now()
	afterFaults := !c.healed.IsZero()
	p.w.Signal(syscall.SIGTERM)
	go func() {
		<-p.w.Done()
		took := time.Since(p.termSent)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.drains = append(c.drains, drainRecord{proc: p.name, took: took, code: p.w.ExitCode(), afterFaults: afterFaults})
	}()
}

// supervise restarts a slot whose process exited without being asked to,
// as Kubernetes would, and notes it: a worker must ride out Redis's faults.
func (c *chaos) supervise() {
	for i, s := range c.slots {
		if p := s.proc; p.killed.IsZero() && p.termSent.IsZero() && p.w.Exited() {
			c.unexpect = append(c.unexpect, fmt.Sprintf("%s exited with status %d", p.name, p.w.ExitCode()))
			c.start(i)
		}
	}
}

// produce enqueues a mix of jobs, every one with a dedupe key, until stop.
func (c *chaos) produce(rng *rand.Rand, stop <-chan struct{}) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		for _, p := range chaosJobs(rng, i) {
			if err := c.e.tryEnqueue(p); err != nil {
				return err
			}
			c.mu.Lock()
			c.jobs[p.ID] = p
			c.groups[p.Dedupe] = append(c.groups[p.Dedupe], p.ID)
			c.mu.Unlock()
		}
	}
}

// chaosJobs returns the i-th job of the mix, as one task or, for a
// duplicate, two tasks with one dedupe key.
func chaosJobs(rng *rand.Rand, i int) []WorkPayload {
	id := fmt.Sprintf("c%04d", i)
	p := WorkPayload{ID: id, Dedupe: "d" + id, MS: 20 + rng.IntN(100)}
	lock := func() {
		p.Lock, p.LockTTLMS, p.LockWaitMS = fmt.Sprintf("acct%d", rng.IntN(chaosLocks)), int(chaosLockTTL.Milliseconds()), 1000
	}
	switch k := rng.IntN(100); {
	case k < 30: // plain
	case k < 55:
		lock()
		if rng.IntN(4) == 0 { // a long holder, so that some leases run out in a pause
			p.MS = 1000 + rng.IntN(2000)
		}
	case k < 75: // the limited dependency, long enough to contend
		p.Dependency, p.MS = chaosDep, 200+rng.IntN(300)
		if rng.IntN(2) == 0 {
			lock()
		}
	case k < 87: // a duplicate under a second task ID
		if rng.IntN(2) == 0 {
			lock()
		}
		a, b := p, p
		a.ID, b.ID = id+"a", id+"b"
		return []WorkPayload{a, b}
	case k < 94:
		p.Fail, p.FailTimes = "transient", 1
		lock()
	case k < 97:
		p.Fail, p.FailTimes = "panic", 1
	default: // archived at once, no effect
		p.Fail = "permanent"
	}
	return []WorkPayload{p}
}
