package redistest

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Stats is what a server reports of its work: commands from INFO
// commandstats (those run inside scripts included, INFO itself excluded)
// and its CPU time from INFO cpu. Subtract two readings to cost a piece of
// work.
type Stats struct {
	// Calls and Usec are per command name ("evalsha", "set", ...).
	Calls map[string]int64
	Usec  map[string]int64
	// Total is the sum of Calls.
	Total int64
	// CPU is the server's CPU seconds, user plus system.
	CPU float64
}

// Scripts returns the EVAL and EVALSHA calls.
func (s Stats) Scripts() int64 { return s.Calls["eval"] + s.Calls["evalsha"] }

// ReadStats reads c's server statistics.
func ReadStats(tb testing.TB, c redis.UniversalClient) Stats {
	tb.Helper()
	info, err := c.Info(context.Background(), "commandstats", "cpu").Result()
	if err != nil {
		tb.Fatal(err)
	}
	st := Stats{Calls: map[string]int64{}, Usec: map[string]int64{}}
	for line := range strings.Lines(info) {
		// cmdstat_set:calls=3,usec=10,usec_per_call=3.33,...
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		if name == "used_cpu_sys" || name == "used_cpu_user" {
			v, _ := strconv.ParseFloat(rest, 64)
			st.CPU += v
			continue
		}
		cmd, ok := strings.CutPrefix(name, "cmdstat_")
		if !ok || cmd == "info" {
			continue
		}
		for field := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(field, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				st.Calls[cmd] = n
				st.Total += n
			case "usec":
				st.Usec[cmd] = n
			}
		}
	}
	return st
}

// TripCounter is a go-redis hook counting round trips: one per command
// sent alone, one per pipeline. Add it with client.AddHook.
type TripCounter struct {
	Trips     atomic.Int64
	Pipelines atomic.Int64
	Piped     atomic.Int64 // commands sent in pipelines
}

func (c *TripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *TripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.Trips.Add(1)
		return next(ctx, cmd)
	}
}

func (c *TripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.Trips.Add(1)
		c.Pipelines.Add(1)
		c.Piped.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// Stats reads the server's statistics on a connection of its own.
func (s *Server) Stats() Stats {
	s.tb.Helper()
	r := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.password, MaxRetries: -1})
	defer r.Close()
	return ReadStats(s.tb, r)
}
