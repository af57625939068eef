package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

// FuzzConfig checks that any environment value either loads or fails with
// one line naming the variable, never a panic.
//
//	go test -run '^$' -fuzz FuzzConfig -fuzztime 30s ./cmd/worker/
func FuzzConfig(f *testing.F) {
	for _, s := range []string{"10", "critical=6,default=3,low=1", "25s", ":9090", "debug", "json", "true", "", "=", ",,", "a=1,a=1", "-1", "1e9", `@every 1s demo.sleep {"ms":1} catch_up=2`} {
		f.Add(uint8(0), s)
	}
	f.Fuzz(func(t *testing.T, which uint8, v string) {
		s := settings[int(which)%len(settings)]
		_, err := loadConfig(nil, env(map[string]string{s.env: v}), &bytes.Buffer{})
		if err == nil || errors.Is(err, flag.ErrHelp) {
			return
		}
		msg := err.Error()
		// A list (WORKER_SCHEDULES) names the line instead of the value.
		if strings.TrimSpace(v) != "" && !strings.HasPrefix(msg, s.env+"=") && !strings.HasPrefix(msg, s.env+" line ") {
			t.Fatalf("error %q does not name %s", msg, s.env)
		}
		if strings.Contains(msg, "\n") && !strings.Contains(v, "\n") {
			t.Fatalf("error spans lines: %q", msg)
		}
	})
}
