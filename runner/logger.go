package runner

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
)

// NewLogger returns a zerolog logger writing JSON lines to w, or
// human-friendly lines when format is "console". level is a zerolog level
// name ("debug", "info", ...); "" means info.
func NewLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl := zerolog.InfoLevel
	if level != "" {
		l, err := zerolog.ParseLevel(strings.ToLower(level))
		if err != nil || l == zerolog.NoLevel {
			return zerolog.Logger{}, fmt.Errorf("log level %q: want one of trace, debug, info, warn, error, fatal, panic, disabled", level)
		}
		lvl = l
	}
	switch format {
	case "", "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	default:
		return zerolog.Logger{}, fmt.Errorf("log format %q: want json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

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
