package lockcore_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

type tripCounter = redistest.TripCounter

// commandCalls sums the calls of every command in INFO commandstats,
// commands run inside scripts included.
func commandCalls(tb testing.TB, c redis.UniversalClient) int64 {
	return redistest.ReadStats(tb, c).Total
}

// serverCPU returns the CPU seconds (user + sys) the server has used.
func serverCPU(tb testing.TB, c redis.UniversalClient) float64 {
	return redistest.ReadStats(tb, c).CPU
}

// startCluster runs a one-node Redis Cluster owning all 16384 slots, so a
// ClusterClient computes slots and splits scripts as on a real cluster.
func startCluster(t *testing.T) *redis.ClusterClient {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not on PATH") // redistest already fails in CI without it
	}
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	node := redis.NewClient(&redis.Options{Addr: addr})
	defer node.Close()
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for node.Ping(ctx).Err() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("cluster node did not start: %s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := node.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	for {
		info, _ := node.ClusterInfo(ctx).Result()
		if strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ok: %s", info)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// startRedis starts a dedicated server. On the embedded miniredis fallback
// (no redis-server on PATH), whose keys expire only when told, it moves
// miniredis time along with the real clock so that TTLs behave.
func startRedis(tb testing.TB) *redistest.Server {
	return startRedisWith(tb, redistest.Options{})
}

func startRedisWith(tb testing.TB, opts redistest.Options) *redistest.Server {
	srv := redistest.StartWith(tb, opts)
	if !srv.Embedded {
		return srv
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		last := time.Now()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				srv.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	tb.Cleanup(func() { close(stop); <-done })
	return srv
}
