package runner

import (
	"fmt"
	"os"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
)

// asynqLogger adapts zerolog to asynq.Logger. asynq's own lines carry
// component=asynq.
type asynqLogger struct{ l zerolog.Logger }

var _ asynq.Logger = asynqLogger{}

func newAsynqLogger(l zerolog.Logger) asynqLogger {
	return asynqLogger{l.With().Str("component", "asynq").Logger()}
}

func (a asynqLogger) Debug(args ...any) { a.l.Debug().Msg(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info().Msg(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn().Msg(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error().Msg(fmt.Sprint(args...)) }

// Fatal logs and exits, as asynq expects of it.
func (a asynqLogger) Fatal(args ...any) {
	a.l.WithLevel(zerolog.FatalLevel).Msg(fmt.Sprint(args...))
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
