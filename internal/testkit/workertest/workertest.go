// Package workertest builds cmd/worker and runs it as a subprocess for
// tests: real signals, real exit statuses, its JSON log lines parsed as they
// arrive.
package workertest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{} // package -> binary
)

// Binary builds cmd/worker once per test process and returns its path.
func Binary(tb testing.TB) string { return Build(tb, "./cmd/worker") }

// Build builds the main package pkg, a path relative to the module root
// such as "./cmd/worker", once per test process (with -race unless
// JOBRUNNER_WORKER_NORACE=1), and returns the binary's path.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin
	}
	dir, err := os.MkdirTemp("", "jobrunner-bin-")
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	_, file, _, _ := runtime.Caller(0)
	args := []string{"build", "-race", "-o", bin, pkg}
	if os.Getenv("JOBRUNNER_WORKER_NORACE") == "1" {
		args = []string{"build", "-o", bin, pkg}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = bin
	return bin
}

// Line is one parsed log line.
type Line map[string]any

// Str returns a string field.
func (l Line) Str(k string) string { s, _ := l[k].(string); return s }

// Int returns a numeric field.
func (l Line) Int(k string) int { f, _ := l[k].(float64); return int(f) }

// Worker is a running worker process.
type Worker struct {
	tb       testing.TB
	cmd      *exec.Cmd
	HTTPAddr string
	exited   chan struct{}
	exitCode int

	mu     sync.Mutex
	lines  []Line
	stderr bytes.Buffer
	raw    bytes.Buffer
	notify chan struct{}
}

// Start runs the worker with env (KEY=VALUE; REDIS_URL and
// WORKER_HTTP_ADDR are filled in when absent) and args, and waits until its
// log says it started. The process is killed when the test ends.
func Start(tb testing.TB, redis *redistest.Server, env []string, args ...string) *Worker {
	tb.Helper()
	w := StartNoWait(tb, redis, env, args...)
	w.WaitEvent("worker.started", 30*time.Second)
	return w
}

// StartNoWait is Start without waiting for the started line.
func StartNoWait(tb testing.TB, redis *redistest.Server, env []string, args ...string) *Worker {
	tb.Helper()
	return Run(tb, Binary(tb), redis, env, args...)
}

// Run runs the worker binary bin (see Build) like StartNoWait.
func Run(tb testing.TB, bin string, redis *redistest.Server, env []string, args ...string) *Worker {
	tb.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	w := &Worker{tb: tb, HTTPAddr: "127.0.0.1:" + strconv.Itoa(port), exited: make(chan struct{}), notify: make(chan struct{})}
	// The race runtime sleeps 1s at exit by default: not here.
	full := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GORACE=atexit_sleep_ms=0 halt_on_error=1"}
	if !hasKey(env, "REDIS_URL") && redis != nil {
		full = append(full, "REDIS_URL="+redis.URL())
	}
	if !hasKey(env, "WORKER_HTTP_ADDR") {
		full = append(full, "WORKER_HTTP_ADDR="+w.HTTPAddr)
	} else {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "WORKER_HTTP_ADDR="); ok {
				w.HTTPAddr = v
			}
		}
	}
	w.cmd = exec.Command(bin, args...)
	w.cmd.Env = append(full, env...)
	w.cmd.Stderr = &lockedWriter{mu: &w.mu, buf: &w.stderr}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go w.read(out)
	tb.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.exited
		if tb.Failed() {
			tb.Logf("worker output (last 8 KiB):\n%s\nstderr:\n%s", tail(w.Raw(), 8<<10), w.Stderr())
		}
	})
	return w
}

func hasKey(env []string, k string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			return true
		}
	}
	return false
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (w *Worker) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l Line
		_ = json.Unmarshal(sc.Bytes(), &l)
		w.mu.Lock()
		w.raw.Write(sc.Bytes())
		w.raw.WriteByte('\n')
		if l != nil {
			w.lines = append(w.lines, l)
		}
		close(w.notify)
		w.notify = make(chan struct{})
		w.mu.Unlock()
	}
	err := w.cmd.Wait()
	w.mu.Lock()
	w.exitCode = exitCode(err)
	close(w.notify)
	w.mu.Unlock()
	close(w.exited)
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return -int(st.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// Lines returns the log lines so far whose event is ev ("" for all).
func (w *Worker) Lines(ev string) []Line {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Line
	for _, l := range w.lines {
		if ev == "" || l.Str("event") == ev {
			out = append(out, l)
		}
	}
	return out
}

// WaitEvent waits for the first log line with event ev and returns it.
func (w *Worker) WaitEvent(ev string, timeout time.Duration) Line {
	w.tb.Helper()
	l, ok := w.WaitFor(timeout, func(l Line) bool { return l.Str("event") == ev })
	if !ok {
		w.tb.Fatalf("no %s log line within %v; output:\n%s\nstderr:\n%s", ev, timeout, w.Raw(), w.Stderr())
	}
	return l
}

// WaitFor waits for a log line matching f.
func (w *Worker) WaitFor(timeout time.Duration, f func(Line) bool) (Line, bool) {
	deadline := time.After(timeout)
	seen := 0
	for {
		w.mu.Lock()
		for ; seen < len(w.lines); seen++ {
			if f(w.lines[seen]) {
				l := w.lines[seen]
				w.mu.Unlock()
				return l, true
			}
		}
		notify := w.notify
		w.mu.Unlock()
		select {
		case <-notify:
		case <-w.exited:
			w.mu.Lock()
			n := len(w.lines)
			w.mu.Unlock()
			if seen >= n {
				return nil, false
			}
		case <-deadline:
			return nil, false
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// Kill sends SIGKILL and waits for the process to die.
func (w *Worker) Kill() {
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.exited
}

// Stop sends SIGTERM and waits up to timeout for the exit, failing the
// test if it does not come.
func (w *Worker) Stop(timeout time.Duration) {
	w.tb.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(timeout):
		w.tb.Errorf("worker did not exit within %v of SIGTERM", timeout)
	}
}

// Signal sends sig to the worker.
func (w *Worker) Signal(sig os.Signal) {
	if err := w.cmd.Process.Signal(sig); err != nil {
		w.tb.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits for the worker to exit and returns its exit status (negative
// signal number when killed by a signal).
func (w *Worker) Wait(timeout time.Duration) int {
	w.tb.Helper()
	select {
	case <-w.exited:
		return w.exitCode
	case <-time.After(timeout):
		w.tb.Fatalf("worker did not exit within %v; output:\n%s", timeout, w.Raw())
		return 0
	}
}

// Done is closed once the process has exited.
func (w *Worker) Done() <-chan struct{} { return w.exited }

// ExitCode returns the exit status once Done is closed (negative signal
// number when killed by a signal).
func (w *Worker) ExitCode() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.exitCode
}

// Exited reports whether the process has exited.
func (w *Worker) Exited() bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

// Raw returns everything the worker wrote to stdout.
func (w *Worker) Raw() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.raw.String()
}

// Stderr returns everything the worker wrote to stderr.
func (w *Worker) Stderr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stderr.String()
}

// Get fetches path from the worker's operations server and returns the
// status code and body (0 and the error text when the request fails).
func (w *Worker) Get(path string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + w.HTTPAddr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
