package faulttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/redistest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestWorkerBinary builds the testworker command once per test process
// (with -race unless JOBRUNNER_WORKER_NORACE=1) and returns its path.
func TestWorkerBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jobrunner-testworker-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "testworker")
		_, file, _, _ := runtime.Caller(0)
		args := []string{"build", "-race", "-o", binPath, "./testworker"}
		if os.Getenv("JOBRUNNER_WORKER_NORACE") == "1" {
			args = []string{"build", "-o", binPath, "./testworker"}
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = filepath.Dir(file)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./internal/faulttest/testworker: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// Line is one parsed JSON log line.
type Line map[string]any

// Str returns a string field.
func (l Line) Str(k string) string { s, _ := l[k].(string); return s }

// Proc is a running testworker process.
type Proc struct {
	// Name is its name in the ledger (WORKER_PROC).
	Name string
	// HTTPAddr serves /healthz, /readyz and /metrics.
	HTTPAddr string

	tb     testing.TB
	cmd    *exec.Cmd
	exited chan struct{}

	mu     sync.Mutex
	lines  []Line
	raw    bytes.Buffer
	stderr bytes.Buffer
	notify chan struct{}
}

// StartProc runs a testworker named name against the Redis at redisAddr
// with the ledger at ledgerAddr, and waits for its worker.started line.
// It is killed when the test ends.
func StartProc(tb testing.TB, name, redisAddr, ledgerAddr string, concurrency int, env ...string) *Proc {
	tb.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proc{Name: name, HTTPAddr: "127.0.0.1:" + strconv.Itoa(port), tb: tb,
		exited: make(chan struct{}), notify: make(chan struct{})}
	p.cmd = exec.Command(TestWorkerBinary(tb))
	p.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0 halt_on_error=1",
		"REDIS_URL=" + redisAddr, "LEDGER_ADDR=" + ledgerAddr, "WORKER_PROC=" + name,
		"WORKER_CONCURRENCY=" + strconv.Itoa(concurrency), "WORKER_HTTP_ADDR=" + p.HTTPAddr,
		"LOG_LEVEL=debug",
	}, env...)
	p.cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.stderr.Write(b)
	})
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go p.read(out)
	tb.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if tb.Failed() {
			tb.Logf("%s output (last 8 KiB):\n%s\nstderr:\n%s", name, tail(p.Raw(), 8<<10), p.Stderr())
		}
	})
	if _, ok := p.WaitFor(60*time.Second, func(l Line) bool { return l.Str("event") == "worker.started" }); !ok {
		tb.Fatalf("%s did not start; output:\n%s\nstderr:\n%s", name, p.Raw(), p.Stderr())
	}
	return p
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func (p *Proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var l Line
		_ = json.Unmarshal(sc.Bytes(), &l)
		p.mu.Lock()
		p.raw.Write(sc.Bytes())
		p.raw.WriteByte('\n')
		if l != nil {
			p.lines = append(p.lines, l)
		}
		close(p.notify)
		p.notify = make(chan struct{})
		p.mu.Unlock()
	}
	_ = p.cmd.Wait()
	close(p.exited)
}

// Lines returns the log lines so far whose event is ev ("" for all).
func (p *Proc) Lines(ev string) []Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Line
	for _, l := range p.lines {
		if ev == "" || l.Str("event") == ev {
			out = append(out, l)
		}
	}
	return out
}

// WaitFor waits for a log line matching f.
func (p *Proc) WaitFor(timeout time.Duration, f func(Line) bool) (Line, bool) {
	deadline := time.After(timeout)
	for seen := 0; ; {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if f(p.lines[seen]) {
				l := p.lines[seen]
				p.mu.Unlock()
				return l, true
			}
		}
		notify := p.notify
		p.mu.Unlock()
		select {
		case <-notify:
		case <-p.exited:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if seen >= n {
				return nil, false
			}
		case <-deadline:
			return nil, false
		}
	}
}

// Kill sends SIGKILL and waits for the process to die.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends SIGTERM and waits up to timeout for the exit.
func (p *Proc) Stop(timeout time.Duration) {
	p.tb.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.tb.Errorf("%s did not exit within %v of SIGTERM", p.Name, timeout)
	}
}

// Raw returns everything the process wrote to stdout.
func (p *Proc) Raw() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw.String()
}

// Stderr returns everything the process wrote to stderr.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}
