package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job/builtin"
)

var update = flag.Bool("update", false, "rewrite testdata/enqueue/cmd-help.golden")

// TestMain lets the tests run this test binary as the enqueue command.
func TestMain(m *testing.M) {
	if os.Getenv("ENQUEUE_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// runCmd runs the command in a child process and returns its exit
// status, stdout and stderr.
func runCmd(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "ENQUEUE_TEST_MAIN=1", "REDIS_URL="), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCmd(t, nil, "--help")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	// The golden file stands BUILTINS for the list of built-in types, so
	// a new built-in does not break it.
	known := "Known job types: " + strings.Join(builtin.Registry(builtin.Config{}).Types(), ", ") + "\n"
	if !strings.Contains(out, known) {
		t.Fatalf("--help does not list the built-ins (%q):\n%s", known, out)
	}
	out = strings.Replace(out, known, "Known job types: BUILTINS\n", 1)
	path := filepath.Join("..", "..", "testdata", "enqueue", "cmd-help.golden")
	if *update {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil || out != string(want) {
		t.Fatalf("--help differs from %s (go test -update): %v\n%s", path, err, out)
	}
}

func TestBuiltinsAndExitStatus(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	env := []string{"REDIS_URL=" + s.URL()}
	if code, out, errOut := runCmd(t, env, "demo.sleep", `{"ms":1}`, "--task-id", "c1"); code != 0 || out != "enqueued c1 on queue default\n" {
		t.Fatalf("exit %d, %q, %q", code, out, errOut)
	}
	info, err := asynq.NewInspectorFromRedisClient(s.Client()).GetTaskInfo("default", "c1")
	if err != nil || info.Type != "demo.sleep" {
		t.Fatalf("info = %+v, %v", info, err)
	}
	if code, _, errOut := runCmd(t, env, "demo.sleep", `{"ms":1}`, "--task-id", "c1"); code != 3 {
		t.Fatalf("conflict: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, env, "demo.sleep", `{"ms":"1"}`); code != 2 || !strings.Contains(errOut, `field "ms"`) {
		t.Fatalf("invalid: exit %d, %q", code, errOut)
	}
	port, _ := redistest.FreePort()
	code, _, errOut := runCmd(t, nil, "--redis-url", "redis://:pw@127.0.0.1:"+strconv.Itoa(port), "demo.sleep")
	if code != 1 || strings.Contains(errOut, ":pw@") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("unreachable: exit %d, %q", code, errOut)
	}
}

// TestRedisLogLines: go-redis's own lines are hidden by default (an error
// is one line) and, with LOG_LEVEL=warn, come out as JSON, never as
// go-redis's plain text.
func TestRedisLogLines(t *testing.T) {
	t.Parallel()
	port, _ := redistest.FreePort()
	url := "redis://127.0.0.1:" + strconv.Itoa(port)
	code, _, errOut := runCmd(t, nil, "--redis-url", url, "demo.sleep")
	if code != 1 || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("default: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCmd(t, []string{"LOG_LEVEL=warn"}, "--redis-url", url, "demo.sleep")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if code != 1 || len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-1], "enqueue: redis ") {
		t.Fatalf("LOG_LEVEL=warn: exit %d, stderr %q", code, errOut)
	}
	for _, l := range lines[:len(lines)-1] {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["component"] != "redis" {
			t.Errorf("not a JSON redis line: %q", l)
		}
	}
	if code, _, errOut := runCmd(t, []string{"LOG_LEVEL=loud"}, "demo.sleep"); code != 2 || !strings.Contains(errOut, "LOG_LEVEL") {
		t.Errorf("bad LOG_LEVEL: exit %d, stderr %q", code, errOut)
	}
}

// TestWebhookDenyPrivate: with WEBHOOK_DENY_PRIVATE=true the CLI refuses a
// webhook the worker would refuse, with exit 2 and one line, before
// anything reaches Redis; without it the job is enqueued.
func TestWebhookDenyPrivate(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	env := []string{"REDIS_URL=" + s.URL()}
	deny := append([]string{"WEBHOOK_DENY_PRIVATE=true"}, env...)
	for _, url := range []string{"http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.1.2.3/x", "http://[::1]:9/"} {
		payload := `{"url":"` + url + `"}`
		code, out, errOut := runCmd(t, deny, "webhook.deliver", payload)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "refused") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", url, code, out, errOut)
		}
	}
	if n, _ := s.Client().DBSize(t.Context()).Result(); n != 0 {
		t.Fatalf("%d keys written", n)
	}
	if code, _, errOut := runCmd(t, env, "webhook.deliver", `{"url":"http://127.0.0.1:8080/hook"}`); code != 0 {
		t.Fatalf("without WEBHOOK_DENY_PRIVATE: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, []string{"WEBHOOK_DENY_PRIVATE=sure"}, "demo.sleep"); code != 2 || !strings.Contains(errOut, "WEBHOOK_DENY_PRIVATE") {
		t.Fatalf("bad WEBHOOK_DENY_PRIVATE: exit %d, %q", code, errOut)
	}
}

// TestSIGINTWhileWaiting: SIGINT during --wait exits 130, the documented
// status, and leaves the task queued.
func TestSIGINTWhileWaiting(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	cmd := exec.Command(os.Args[0], "--wait", "--queue", "idle", "--task-id", "int1", "demo.sleep", `{"ms":1}`)
	cmd.Env = append(os.Environ(), "ENQUEUE_TEST_MAIN=1", "REDIS_URL="+s.URL())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "enqueued int1 on queue idle\n" {
		_ = cmd.Process.Kill()
		t.Fatalf("first line %q, %v", line, err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 || !strings.Contains(errOut.String(), "interrupted while waiting for task int1") {
		t.Fatalf("exit %v, stderr %q; want 130", err, errOut.String())
	}
	if info, err := asynq.NewInspectorFromRedisClient(s.Client()).GetTaskInfo("idle", "int1"); err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("task after SIGINT: %+v, %v", info, err)
	}
}

// TestHungRedis: against a Redis that accepts connections and answers
// nothing (SIGSTOP), the CLI gives up after its dial timeout with one clear
// line and exit 1, on one server, behind Sentinel and on a cluster, instead
// of waiting for go-redis's own timeouts.
func TestHungRedis(t *testing.T) {
	for _, topo := range redistest.Topologies() {
		t.Run(topo.Name, func(t *testing.T) {
			t.Parallel()
			env := topo.Start(t)
			env.PauseAll()
			start := time.Now()
			code, _, errOut := runCmd(t, []string{"REDIS_URL=" + env.URL}, "demo.sleep", `{"ms":1}`)
			took := time.Since(start)
			t.Logf("exit %d after %v: %s", code, took.Round(time.Millisecond), strings.TrimSpace(errOut))
			if code != 1 || !strings.Contains(errOut, "not answering: no answer within 3s") || strings.Count(errOut, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want 1 and one line saying Redis gave no answer within 3s", code, errOut)
			}
			if took > 5*time.Second {
				t.Errorf("took %v against a hung Redis, want about the 3s dial timeout", took)
			}
		})
	}
}

// TestRedisURLWithoutHost: a Redis URL that names no host is refused with
// exit 2 and one line, instead of go-redis quietly dialing localhost.
// (Only URLs that could not write to a Redis on localhost, were they
// accepted: tests must not touch 127.0.0.1:6379. setup's tests cover
// redis://.)
func TestRedisURLWithoutHost(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"redis-sentinel://?master=mm": "enqueue: REDIS_URL redis-sentinel://?master=mm: no host; want redis-sentinel://host:port[,host:port]?master=NAME\n",
		"redis-cluster://":            "enqueue: REDIS_URL redis-cluster://: no host; want redis-cluster://host:port[?addr=host:port]\n",
	} {
		code, out, errOut := runCmd(t, []string{"REDIS_URL=" + url}, "demo.sleep", `{"ms":1}`)
		if code != 2 || out != "" || errOut != want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and %q", url, code, out, errOut, want)
		}
	}
}

// TestSIGINTWhileCheckingBulkInput: SIGINT while a bulk run still reads and
// checks its input exits 130, like every other interruption, and enqueues
// nothing (it used to go on to connect with the cancelled context and exit
// 1 with "context canceled").
func TestSIGINTWhileCheckingBulkInput(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	cmd := exec.Command(os.Args[0], "--file", "-")
	cmd.Env = append(os.Environ(), "ENQUEUE_TEST_MAIN=1", "REDIS_URL="+s.URL())
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// More than a pipe holds: once these writes return, the command is
	// reading its input, so its signal handler is in place.
	line := []byte(`{"type":"demo.sleep","payload":{"ms":1}}` + "\n")
	for range 8000 {
		if _, err := in.Write(line); err != nil {
			_ = cmd.Process.Kill()
			t.Fatal(err)
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	in.Close()
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 || errOut.String() != "enqueue: interrupted while reading and checking stdin: nothing enqueued\n" {
		t.Fatalf("exit %v, stdout %q, stderr %q; want 130", err, out.String(), errOut.String())
	}
	if n, _ := s.Client().DBSize(t.Context()).Result(); n != 0 {
		t.Fatalf("%d keys written", n)
	}
}

// TestWrongRedisPassword: a refused password says "authentication failed",
// not "unreachable: WRONGPASS".
func TestWrongRedisPassword(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	if s.Embedded {
		t.Skip("miniredis has no CONFIG SET; CI runs this on redis-server")
	}
	if err := s.Client().ConfigSet(t.Context(), "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd(t, []string{"REDIS_URL=redis://:wrong@" + s.Addr}, "demo.sleep", `{"ms":1}`)
	want := "enqueue: redis redis://:xxxxx@" + s.Addr + ": authentication failed (check the user and password of the URL): WRONGPASS"
	if code != 1 || !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}
}

// TestByteOrderMarkAccepted: a JSONL file (or a payload file) saved with a
// UTF-8 byte-order mark, as editors on Windows write them, is read as if
// the mark were not there; it used to fail the first line.
func TestByteOrderMarkAccepted(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	dir := t.TempDir()
	jobs := filepath.Join(dir, "jobs.jsonl")
	if err := os.WriteFile(jobs, []byte("\xef\xbb\xbf"+`{"type":"demo.sleep","payload":{"ms":1}}`+"\r\n"+`{"type":"demo.sleep"}`+"\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, []string{"REDIS_URL=" + s.URL()}, "--file", jobs)
	if code != 0 || out != "enqueued 2, duplicates 0, invalid 0\n" || errOut != "" {
		t.Fatalf("--file with a BOM: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	payload := filepath.Join(dir, "payload.json")
	if err := os.WriteFile(payload, []byte("\xef\xbb\xbf"+`{"ms":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCmd(t, nil, "--dry-run", "--payload-file", payload, "demo.sleep"); code != 0 || !strings.Contains(out, `payload: {"ms":1}`) {
		t.Fatalf("--payload-file with a BOM: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestVersionFlag: --version prints one line from the build information
// (module version, commit or "commit unknown", Go version) and exits 0.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCmd(t, nil, "--version")
	re := regexp.MustCompile(`^enqueue \S+ \(commit (unknown|[0-9a-f]{12})[^)]*\) go1\.\d+\S*\n$`)
	if code != 0 || errOut != "" || !re.MatchString(out) {
		t.Fatalf("--version: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
