package runner

import (
	"fmt"
	"os"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
)

// asynqLogger adapts zerolog to asynq.Logger. asynq's own lines carry
// component=asynq; its warnings and errors, which may quote an error (a
// Redis error, a syncing failure), pass through the runner's sanitizer.
type asynqLogger struct {
	l     zerolog.Logger
	clean func(string) string
}

var _ asynq.Logger = asynqLogger{}

func newAsynqLogger(l zerolog.Logger, clean func(string) string) asynqLogger {
	return asynqLogger{l.With().Str("component", "asynq").Logger(), clean}
}

func (a asynqLogger) Debug(args ...any) { a.l.Debug().Msg(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info().Msg(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn().Msg(a.clean(fmt.Sprint(args...))) }
func (a asynqLogger) Error(args ...any) { a.l.Error().Msg(a.clean(fmt.Sprint(args...))) }

// Fatal logs and exits, as asynq expects of it.
func (a asynqLogger) Fatal(args ...any) {
	a.l.WithLevel(zerolog.FatalLevel).Msg(a.clean(fmt.Sprint(args...)))
	os.Exit(1)
}

// asynqLevel maps the runner's level to asynq's. asynq's debug lines (one
// per empty poll) are noise, so asynq logs at info at most.
func asynqLevel(l zerolog.Level) asynq.LogLevel {
	switch {
	case l <= zerolog.InfoLevel:
		return asynq.InfoLevel
	case l == zerolog.WarnLevel:
		return asynq.WarnLevel
	case l == zerolog.ErrorLevel:
		return asynq.ErrorLevel
	default:
		return asynq.FatalLevel
	}
}
