package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestServeBinary runs enqueue serve as users do: the environment
// variables, a bearer token, a real job, then SIGTERM: exit status 0 and
// the stop logged. Without tokens it refuses an open address with exit
// status 2 and one line.
func TestServeBinary(t *testing.T) {
	t.Parallel()
	code, _, errOut := runCmd(t, []string{"ENQUEUE_API_ADDR=0.0.0.0:0"}, "serve")
	if code != 2 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "listens beyond loopback and ENQUEUE_API_TOKENS is empty") {
		t.Fatalf("open address without tokens: exit %d, stderr %q", code, errOut)
	}

	s := redistest.Start(t)
	const token = "test-token-0123456789"
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), "ENQUEUE_TEST_MAIN=1", "REDIS_URL="+s.URL(), "ENQUEUE_API_ADDR=127.0.0.1:0",
		"ENQUEUE_API_TOKENS=other-token-0123456789,"+token, "LOG_LEVEL=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	addrRE := regexp.MustCompile(`"event":"api.listening","addr":"([^"]+)","auth":true`)
	var addr string
	for addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("serve exited before listening")
			}
			if m := addrRE.FindStringSubmatch(l); m != nil {
				addr = m[1]
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no api.listening line")
		}
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/jobs", strings.NewReader(`{"type":"demo.sleep","payload":{"ms":1}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", res.StatusCode, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := false
	for l := range lines {
		stopped = stopped || strings.Contains(l, `"event":"api.stopped","clean":true`)
	}
	if err := cmd.Wait(); err != nil || !stopped {
		t.Fatalf("after SIGTERM: %v, api.stopped logged: %v", err, stopped)
	}
}
