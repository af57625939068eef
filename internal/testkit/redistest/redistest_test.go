package redistest_test

import (
	"context"
	"testing"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

func TestKillRestart(t *testing.T) {
	for _, aof := range []bool{false, true} {
		s := redistest.StartWith(t, redistest.Options{AOF: aof})
		c := s.Client()
		ctx := context.Background()
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		s.Kill()
		if err := c.Ping(ctx).Err(); err == nil {
			t.Fatal("ping after Kill succeeded")
		}
		s.Restart()
		got, err := c.Get(ctx, "k").Result()
		if s.Embedded {
			continue
		}
		if aof && (err != nil || got != "v") {
			t.Fatalf("AOF restart lost data: %q %v", got, err)
		}
		if !aof && err == nil {
			t.Fatalf("restart without persistence kept data: %q", got)
		}
	}
}
