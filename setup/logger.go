package setup

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"
)

// NewLogger returns a zerolog logger writing JSON lines to w, or
// human-friendly lines when format is "console", coloured only when w is a
// terminal (so a file or a pipe gets no escape codes). level is a zerolog
// level name ("debug", "info", ...); "" means info.
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
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}
	default:
		return zerolog.Logger{}, fmt.Errorf("log format %q: want json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
