package redistest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/setup"
)

// TestTopologies drives every topology through the same hooks: start,
// write and read, kill the primary of a key, recover, write and read
// again.
func TestTopologies(t *testing.T) {
	t.Parallel()
	for _, topo := range redistest.TopologiesWith(redistest.Options{AOF: true}) {
		t.Run(topo.Name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			env := topo.Start(t)
			started := time.Since(start)
			if env.Name != topo.Name {
				t.Errorf("Env.Name = %q, want %q", env.Name, topo.Name)
			}
			if _, err := setup.ParseRedisURL(env.URL); err != nil {
				t.Errorf("ParseRedisURL(%q): %v", env.URL, err)
			}
			ctx := ctxFor(t)
			c := env.Client
			for i := range 30 {
				if err := c.Set(ctx, fmt.Sprint("{k", i, "}"), i, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			st := env.Stats()
			var sets int64
			for _, s := range st {
				sets += s.Calls["set"]
			}
			if sets != 30 {
				t.Errorf("%d SETs over %d primaries, want 30", sets, len(st))
			}
			if p := env.PrimaryFor("{k3}"); st[p.Addr].Calls["set"] == 0 {
				t.Errorf("PrimaryFor({k3}) = %s, which ran no SET", p.Addr)
			}
			if env.Server == nil { // a replica must have the write before the kill
				if err := waitReplicated(ctx, env.PrimaryFor("{k3}")); err != nil {
					t.Fatal(err)
				}
			}

			killed := time.Now()
			dead := env.KillPrimary("{k3}")
			env.Recover(dead)
			recovered := time.Since(killed)
			back := retryUntil(t, func() error { return c.Set(ctx, "{k3}", "after", 0).Err() })
			for i := range 30 {
				if i == 3 {
					continue
				}
				if got, err := c.Get(ctx, fmt.Sprint("{k", i, "}")).Int(); err != nil || got != i {
					t.Errorf("GET {k%d} after recovery = %d, %v", i, got, err)
				}
			}
			if extra := env.NewClient(); extra.Get(ctx, "{k3}").Val() != "after" {
				t.Error("a new client does not read the write made after recovery")
			}
			t.Logf("%s: started in %s; primary killed, recovered in %s, client wrote again %s later",
				topo.Name, started.Round(time.Millisecond), recovered.Round(time.Millisecond), back.Round(time.Millisecond))
		})
	}
}
