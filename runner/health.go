package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/rediserr"
)

// Health watching: how /readyz knows within a second that Redis hangs or
// refuses writes, and what the operator is told.
const (
	// healthInterval is how often the health loop pings Redis.
	healthInterval = 200 * time.Millisecond
	// healthTimeout is how long a ping may take before Redis counts as not
	// answering: a hang is reported within healthInterval+healthTimeout.
	healthTimeout = 400 * time.Millisecond
	// refusalDelayMin is the least a command that Redis refused to write
	// waits before its error is returned (see refusalDelay).
	refusalDelayMin = 50 * time.Millisecond
	// refusalHold is how long a refused write keeps the worker not ready
	// at least, so that a read-only script that goes through between two
	// refused fetches does not make readiness flap.
	refusalHold = time.Second
	// refusalQuiet is how long after the last refused write the refusal
	// stops counting against readiness when nothing has written since.
	refusalQuiet = 5 * time.Second
)

// health knows whether Redis can serve the worker: a loop pings it (on a
// cluster, every primary) and a go-redis hook sees every command's error,
// so that a Redis that refuses writes (maxmemory, a failed snapshot, a
// demoted primary, a restart still loading) is noticed although it answers
// PING.
type health struct {
	rdb      redis.UniversalClient
	log      zerolog.Logger
	delay    time.Duration // how long a refused write waits; see refusalDelay
	up       prometheus.Gauge
	pingTime prometheus.Gauge
	refused  *prometheus.CounterVec

	mu         sync.Mutex
	pingErr    error     // the last ping's error; nil when it answered
	downSince  time.Time // when pings started failing; zero while they answer
	refusal    string    // the last refused write's reply; "" when writes go through
	refusedAt  time.Time // when it came
	refusedLog time.Time // when it was last logged

	refusing  atomic.Bool  // a refusal stands: the hook notes writes
	lastWrite atomic.Int64 // Unix ns of the last write Redis took while refusing
	dialErr   atomic.Pointer[dialFailure]

	quit    chan struct{}
	stopped chan struct{}
}

func newHealth(rdb redis.UniversalClient, log zerolog.Logger, pollInterval time.Duration, reg prometheus.Registerer) (*health, error) {
	h := &health{
		rdb: rdb, log: log, delay: max(pollInterval, refusalDelayMin),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jobrunner_redis_up", Help: "1 while Redis answers pings within 400ms and takes writes, else 0.",
		}),
		pingTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jobrunner_redis_ping_seconds", Help: "Duration of the last health ping of Redis (on a cluster, of every primary), up to its 400ms timeout.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobrunner_redis_writes_refused_total", Help: "Commands Redis refused to run, by reply (OOM, MISCONF, READONLY, LOADING, MASTERDOWN).",
		}, []string{"reply"}),
	}
	for _, c := range []prometheus.Collector{h.up, h.pingTime, h.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, r := range refusalReplies {
		h.refused.WithLabelValues(r) // exported at 0 from the start, for rate() in alerts
	}
	h.up.Set(1)
	return h, nil
}

// refusalReplies are the error replies with which Redis refuses a command
// it would run on a healthy server.
var refusalReplies = []string{"OOM", "MISCONF", "READONLY", "LOADING", "MASTERDOWN"}

// refusal returns the refusal reply that err starts with, or "".
func refusal(err error) string {
	if err == nil {
		return "" // before rerr, which escapes: this runs for every command
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return ""
	}
	msg := rerr.Error()
	for _, r := range refusalReplies {
		if strings.HasPrefix(msg, r) {
			return r
		}
	}
	return ""
}

// start runs the ping loop until stop.
func (h *health) start() {
	h.quit, h.stopped = make(chan struct{}), make(chan struct{})
	go h.loop()
}

// stop ends the ping loop and waits for it, at most a ping's timeout.
func (h *health) stop() {
	if h.quit == nil {
		return
	}
	close(h.quit)
	<-h.stopped
}

func (h *health) loop() {
	defer close(h.stopped)
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		select {
		case <-h.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
		start := time.Now()
		err := pingRedis(ctx, h.rdb)
		cancel()
		if d := h.dialErr.Load(); err != nil && d != nil && !d.at.Before(start) {
			// A refused connection, retried until the deadline.
			err = fmt.Errorf("%w (%w)", d.err, err)
		}
		h.pingTime.Set(time.Since(start).Seconds())
		h.pinged(err, start)
	}
}

// pinged records a ping's outcome and logs the transitions.
func (h *health) pinged(err error, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := h.pingErr
	h.pingErr = err
	switch {
	case err != nil && was == nil:
		h.downSince = at
		h.log.Warn().Str("event", "redis.unhealthy").Str("reason", describeRedisErr(err)).Err(err).
			Msg("Redis does not serve this worker: not ready; jobs needing Redis are deferred until it does")
	case err == nil && was != nil:
		h.log.Info().Str("event", "redis.healthy").Int64("down_ms", ms(at.Sub(h.downSince))).
			Msg("Redis answers again: ready")
		h.downSince = time.Time{}
	}
	h.refusingLocked(at) // a refusal that has passed ends here too
	h.setUpLocked()
}

// notReady returns why Redis cannot serve the worker now, or "".
func (h *health) notReady() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pingErr != nil {
		if rediserr.IsAuth(h.pingErr) {
			return rediserr.Describe(h.pingErr)
		}
		return "redis " + describeRedisErr(h.pingErr) + ": " + h.pingErr.Error()
	}
	if r := h.refusingLocked(time.Now()); r != "" {
		return "redis refuses writes: " + r
	}
	return ""
}

// refusingLocked returns the last refused write's reply while it stands:
// until a write goes through, or refusalQuiet after it when nothing tried
// to write since.
func (h *health) refusingLocked(now time.Time) string {
	if h.refusal == "" {
		return ""
	}
	since := now.Sub(h.refusedAt)
	wrote := time.Unix(0, h.lastWrite.Load()).After(h.refusedAt)
	if since > refusalQuiet || since > refusalHold && wrote {
		h.refusal = ""
		h.refusing.Store(false)
		h.log.Info().Str("event", "redis.writes_accepted").Msg("Redis takes writes again")
		h.setUpLocked()
		return ""
	}
	return h.refusal
}

func (h *health) setUpLocked() {
	if h.pingErr == nil && h.refusal == "" {
		h.up.Set(1)
	} else {
		h.up.Set(0)
	}
}

// describeRedisErr tells a Redis that does not answer in time (slow,
// paused, a partition dropping packets) from one that cannot be reached.
func describeRedisErr(err error) string {
	var ne net.Error
	switch {
	case rediserr.IsAuth(err):
		return "refuses the credentials (check the user and password of the URL)"
	case refusal(err) != "":
		return "refuses commands"
	case errors.As(err, &ne) && !ne.Timeout():
		return "unreachable" // a refused or reset connection
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "not answering within " + healthTimeout.String() + " (slow, paused or cut off)"
	}
	return "unreachable"
}

// sawRefusal records a command Redis refused, logs it (at most every 30s
// while it lasts) and holds the caller back (see refusalDelay).
func (h *health) sawRefusal(ctx context.Context, reply string, err error) {
	h.refused.WithLabelValues(reply).Inc()
	now := time.Now()
	h.mu.Lock()
	first := h.refusal == ""
	h.refusal, h.refusedAt = err.Error(), now
	h.refusing.Store(true)
	if first || now.Sub(h.refusedLog) >= 30*time.Second {
		h.refusedLog = now
		h.log.Warn().Str("event", "redis.writes_refused").Str("reply", reply).Err(err).Str("advice", refusalAdvice[reply]).
			Msg("Redis refuses writes: no job can start or finish; not ready until it takes writes again")
	}
	h.setUpLocked()
	h.mu.Unlock()
	refusalDelay(ctx, h.delay)
}

// refusalAdvice says what an operator can do about each refusal.
var refusalAdvice = map[string]string{
	"OOM":        "Redis is at maxmemory (asynq needs the noeviction policy): raise maxmemory, or shorten the dedupe window (runner.Config.DedupeWindow) so that completed records expire sooner",
	"MISCONF":    "Redis cannot save its snapshot (stop-writes-on-bgsave-error): fix the disk or permissions in the Redis log, or turn that setting off",
	"READONLY":   "this connection reaches a replica: the primary was demoted; the client follows the new primary once the failover is announced",
	"LOADING":    "Redis is loading its dataset after a restart; it takes writes when done",
	"MASTERDOWN": "the replica lost its primary and serves no stale data: wait for the failover",
}

// refusalDelay holds a caller whose command Redis refused for d (or until
// ctx ends). asynq's processor retries a failed fetch at once, so a worker
// at maxmemory would otherwise send thousands of failing commands a second
// and burn a core; this bounds every loop to one refused command per d.
func refusalDelay(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// hook returns the go-redis hook that feeds the watcher.
func (h *health) hook() redis.Hook { return healthHook{h} }

type healthHook struct{ h *health }

func (k healthHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil && ctx.Err() == nil {
			k.h.dialErr.Store(&dialFailure{err: err, at: time.Now()})
		}
		return conn, err
	}
}

// dialFailure is the last failed dial: go-redis retries a refused
// connection until the caller's deadline, which then is all the caller
// sees.
type dialFailure struct {
	err error
	at  time.Time
}

func (k healthHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		k.saw(ctx, err, cmd)
		return err
	}
}

func (k healthHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			if r := refusal(c.Err()); r != "" {
				k.h.sawRefusal(ctx, r, c.Err())
				return err
			}
		}
		for _, c := range cmds {
			k.saw(ctx, c.Err(), c)
		}
		return err
	}
}

// saw looks at one command's outcome: a refusal, or, while one stands, a
// write Redis took. Nothing else is done on the healthy path.
func (k healthHook) saw(ctx context.Context, err error, cmd redis.Cmder) {
	if r := refusal(err); r != "" {
		k.h.sawRefusal(ctx, r, err)
		return
	}
	if k.h.refusing.Load() && (err == nil || errors.Is(err, redis.Nil)) && writes(cmd.Name()) {
		k.h.lastWrite.Store(time.Now().UnixNano())
	}
}

// writes reports whether a command of this name is one Redis refuses when
// it refuses writes: scripts (asynq's fetch and every script of ours) and
// the plain writes the runner sends.
func writes(name string) bool {
	switch name {
	case "evalsha", "eval", "set", "del", "zadd", "hset", "lpush", "rpush", "incr", "pexpire", "expire", "zrem", "lrem":
		return true
	}
	return false
}
