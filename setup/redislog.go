package setup

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// Rate limit of RouteRedisLogs: a token bucket that lets the first
// redisLogBurst lines through, then one every redisLogEvery.
const (
	redisLogBurst = 3
	redisLogEvery = 10 * time.Second
)

// RouteRedisLogs makes go-redis write its own log lines (dial failures,
// pool and reconnect messages, which it otherwise prints to stderr as plain
// text) to log instead: one JSON line each, at warn level, with
// component=redis. The lines are rate-limited so that an outage yields a
// few of them, not one per failed dial: the first 3 pass, then at most one
// every 10 seconds, carrying in "suppressed" how many were dropped since
// the previous one. Dropped lines are only counted; a count still pending
// when the outage ends is reported with the next redis line, if any.
//
// Note that go-redis has a single logger for the whole process
// (redis.SetLogger), shared by every client, including asynq's: that is
// go-redis's design, not ours. RouteRedisLogs replaces it, so call it once,
// from main, before the first client is made; a library should leave it
// alone. The rate limiter's state lives in the installed logger, not in
// package variables.
func RouteRedisLogs(log zerolog.Logger) {
	redis.SetLogger(newRedisLogger(log, redisLogBurst, redisLogEvery, time.Now))
}

// redisLogger adapts zerolog to go-redis's logger interface
// (Printf(ctx, format, args...)), with a token bucket of burst lines
// refilled at one per every.
type redisLogger struct {
	log   zerolog.Logger
	burst int
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	tokens     float64
	last       time.Time // of the last refill
	suppressed int       // lines dropped since the last one written
}

func newRedisLogger(log zerolog.Logger, burst int, every time.Duration, now func() time.Time) *redisLogger {
	return &redisLogger{
		log:    log.With().Str("component", "redis").Logger(),
		burst:  burst,
		every:  every,
		now:    now,
		tokens: float64(burst),
	}
}

// Printf writes one go-redis line, or counts it when over the rate.
func (l *redisLogger) Printf(_ context.Context, format string, args ...any) {
	if l.log.GetLevel() > zerolog.WarnLevel {
		return
	}
	suppressed, ok := l.take()
	if !ok {
		return
	}
	ev := l.log.Warn()
	if suppressed > 0 {
		ev = ev.Int("suppressed", suppressed)
	}
	// go-redis starts most messages with "redis: ", which component says.
	ev.Msg(strings.TrimPrefix(fmt.Sprintf(format, args...), "redis: "))
}

// take spends a token if there is one and returns the number of lines
// dropped before it; without a token it counts this line as dropped.
func (l *redisLogger) take() (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() {
		l.tokens = min(float64(l.burst), l.tokens+float64(now.Sub(l.last))/float64(l.every))
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return 0, false
	}
	l.tokens--
	suppressed, l.suppressed = l.suppressed, 0
	return suppressed, true
}
