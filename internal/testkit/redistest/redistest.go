package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Options change how Start runs the server. The zero value runs a server
// with no persistence.
type Options struct {
	// AOF turns on append-only-file persistence (appendfsync always), so a
	// Kill followed by Restart keeps the data.
	AOF bool
	// CPUs pins the server to these CPUs (taskset), as a production Redis
	// on its own cores; benchmarks use it. Empty: any CPU.
	CPUs []int
}

// Server is one dedicated Redis server.
type Server struct {
	// Addr is host:port of the server.
	Addr string
	// Embedded reports that the server is a miniredis, not redis-server.
	Embedded bool

	tb   testing.TB
	opts Options
	dir  string
	conf string   // a config file given first (Sentinel's, which it rewrites)
	args []string // further arguments (cluster, replication)
	// password is what a client sends with AUTH (requirepass); authArgs
	// are the arguments that set it, kept apart from args so that a
	// Rejoin's new args keep them.
	password string
	authArgs []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	mini *miniredis.Miniredis
}

// Start starts a dedicated server for tb and registers its cleanup.
func Start(tb testing.TB) *Server { return StartWith(tb, Options{}) }

// StartWith is Start with options.
func StartWith(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("JOBRUNNER_REQUIRE_REDIS") == "1" {
			tb.Fatalf("redistest: redis-server not found on PATH and JOBRUNNER_REQUIRE_REDIS=1")
		}
		s := &Server{tb: tb, opts: opts, Embedded: true}
		m := miniredis.NewMiniRedis()
		if err := m.Start(); err != nil {
			tb.Fatalf("redistest: start miniredis: %v", err)
		}
		s.mini = m
		s.Addr = m.Addr()
		tb.Cleanup(m.Close)
		return s
	}
	s, err := launch(tb, opts, nil)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	return s
}

// launch starts a redis-server for tb on a free port, killed when the test
// ends. setup, if not nil, is called before each attempt with s.Addr set, to
// fill in s.conf and s.args (it picks any further ports afresh each time).
func launch(tb testing.TB, opts Options, setup func(s *Server) error) (*Server, error) {
	s := &Server{tb: tb, opts: opts, dir: tb.TempDir()}
	var lastErr error
	for range 5 {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if setup != nil {
			if err := setup(s); err != nil {
				return nil, err
			}
		}
		if lastErr = s.start(); lastErr == nil {
			tb.Cleanup(s.Kill)
			return s, nil
		}
	}
	return nil, fmt.Errorf("start redis-server: %w", lastErr)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args,
		"--port", port, "--bind", "127.0.0.1", "--save", "",
		"--dir", s.dir, "--daemonize", "no", "--loglevel", "warning",
		"--logfile", filepath.Join(s.dir, "redis.log"),
		// A replica syncs at once, not after the default 5s wait for others.
		"--repl-diskless-sync-delay", "0",
	)
	if s.opts.AOF {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, s.args...)
	args = append(args, s.authArgs...)
	cmd := exec.Command("redis-server", args...)
	if len(s.opts.CPUs) > 0 {
		cmd = exec.Command("taskset", append([]string{"-c", cpuList(s.opts.CPUs), "redis-server"}, args...)...)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.password, MaxRetries: -1})
		err := c.Ping(context.Background()).Err()
		c.Close()
		if err == nil {
			break
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return errors.New("redis-server did not answer PING within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

// URL returns a redis:// URL for the server.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Password returns the password a client must send (requirepass), or ""
// when the server has none. Sentinel setups have one (SentinelDataPassword
// on the data nodes, SentinelPassword on the sentinels).
func (s *Server) Password() string { return s.password }

// Client returns a new client for the server, closed when the test ends.
// Like every client of redistest it has ContextTimeoutEnabled, as
// runner.New requires, and it sends the server's password.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.password, ContextTimeoutEnabled: true})
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Kill stops the server at once (SIGKILL), as a crash would. It is a no-op
// when the server is not running.
func (s *Server) Kill() {
	if s.mini != nil {
		s.mini.Close()
		return
	}
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same port after Kill. Without
// AOF the data is gone, as after a real restart.
func (s *Server) Restart() {
	s.tb.Helper()
	if s.mini != nil {
		if err := s.mini.Restart(); err != nil {
			s.tb.Fatalf("redistest: restart miniredis: %v", err)
		}
		return
	}
	s.Kill()
	var err error
	for range 50 { // the port can linger briefly after a kill
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.tb.Fatalf("redistest: restart redis-server on %s: %v", s.Addr, err)
}

// FastForward moves TTLs forward on an embedded server; real servers keep
// their own time, so it only sleeps there.
func (s *Server) FastForward(d time.Duration) {
	if s.mini != nil {
		s.mini.FastForward(d)
		return
	}
	time.Sleep(d)
}

// running reports whether the server's process is up (not killed).
func (s *Server) running() bool {
	if s.mini != nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}
