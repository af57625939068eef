package runner_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// scriptSpy records the scripts a client sends, by SHA1.
type scriptSpy struct {
	mu   sync.Mutex
	shas map[string]int
}

func (s *scriptSpy) DialHook(next redis.DialHook) redis.DialHook { return next }

func (s *scriptSpy) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		s.note(cmd)
		return next(ctx, cmd)
	}
}

func (s *scriptSpy) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			s.note(c)
		}
		return next(ctx, cmds)
	}
}

func (s *scriptSpy) note(cmd redis.Cmder) {
	args := cmd.Args()
	if len(args) < 2 {
		return
	}
	name, _ := args[0].(string)
	var sha string
	switch strings.ToLower(name) {
	case "evalsha":
		sha, _ = args[1].(string)
	case "eval":
		src, _ := args[1].(string)
		sum := sha1.Sum([]byte(src))
		sha = hex.EncodeToString(sum[:])
	default:
		return
	}
	s.mu.Lock()
	s.shas[sha]++
	s.mu.Unlock()
}

// ourScripts returns the SHA1s of every Lua script of this module.
func ourScripts(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range []string{"../internal/lockcore/lua", "lua", "../resilience/lua"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.lua"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no scripts in %s: %v", dir, err)
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha1.Sum(src)
			out[hex.EncodeToString(sum[:])] = f
		}
	}
	return out
}

// TestJobWithoutLayersSendsOnlyAsynqsScripts: a job type with no dedupe
// key, no lock and no dependency costs what bare asynq costs in Redis: none
// of the runner's or lockstore's scripts is sent for it, and the script
// calls per job are asynq's two (dequeue and done), as INFO commandstats
// counts them.
func TestJobWithoutLayersSendsOnlyAsynqsScripts(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	spy := &scriptSpy{shas: map[string]int{}}
	rdb.AddHook(spy)
	// The queue metrics' loop (one script per queue every 5s, not per
	// job) is off: this counts what a job costs.
	r, err := runner.New(runner.Config{Redis: rdb, Concurrency: 8, PollInterval: time.Second, QueueStatsInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	var done atomic.Int32
	err = r.Register(&job.Definition[greet]{Type: "plain", Handle: func(context.Context, greet) error { done.Add(1); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	// Enqueue through a client the spy does not watch.
	enq := asynq.NewClientFromRedisClient(redis.NewClient(&redis.Options{Addr: srv.Addr}))
	defer enq.Close()
	for range n {
		if _, err := enq.Enqueue(asynq.NewTask("plain", []byte(`{"name":"a"}`))); err != nil {
			t.Fatal(err)
		}
	}
	before := redistest.ReadStats(t, rdb)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for done.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_ = r.Shutdown(context.Background())
	after := redistest.ReadStats(t, rdb)
	if done.Load() != n {
		t.Fatalf("%d of %d jobs ran", done.Load(), n)
	}
	ours := ourScripts(t)
	spy.mu.Lock()
	defer spy.mu.Unlock()
	total := 0
	for _, calls := range spy.shas {
		total += calls
	}
	if total < 2*n {
		t.Fatalf("the spy saw %d script calls for %d jobs: it does not see asynq's", total, n)
	}
	for sha, calls := range spy.shas {
		if f, ok := ours[sha]; ok {
			t.Errorf("%s was sent %d times for jobs without layers", f, calls)
		}
	}
	// asynq's dequeue and done per job, plus its loops (a 1s poll keeps
	// those few over the run).
	if perJob := float64(after.Scripts()-before.Scripts()) / n; perJob < 2 || perJob > 2.2 {
		t.Errorf("%.2f script calls per job, want asynq's 2", perJob)
	}
}
