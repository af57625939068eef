package enqueue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestServeRefusesOpenAddressWithoutTokens: without ENQUEUE_API_TOKENS the
// server listens on loopback only; anything else, and a bad token list, is
// exit status 2 with one line.
func TestServeRefusesOpenAddressWithoutTokens(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--addr", "0.0.0.0:0"}, "--addr 0.0.0.0:0 listens beyond loopback and ENQUEUE_API_TOKENS is empty"},
		{nil, []string{"--addr", ":0"}, "--addr :0 listens beyond loopback"},
		{map[string]string{APIAddrEnv: "[::]:0"}, nil, "ENQUEUE_API_ADDR [::]:0 listens beyond loopback"},
		{map[string]string{TokensEnv: "short"}, nil, "ENQUEUE_API_TOKENS: token 1 is 5 characters; want at least 16"},
		{map[string]string{TokensEnv: "0123456789abcdef,"}, nil, "ENQUEUE_API_TOKENS: token 2 is empty"},
		{nil, []string{"--max-bulk-jobs", "0"}, "--max-bulk-jobs must be positive"},
		{nil, []string{"extra"}, "serve takes no arguments"},
	} {
		b.env = map[string]string{"REDIS_URL": b.srv.URL()}
		for k, v := range tc.env {
			b.env[k] = v
		}
		r := b.run(t, "", append([]string{"serve"}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "enqueue: serve: ") {
			t.Errorf("%v %v: %+v, want exit 2 and %q", tc.env, tc.args, r, tc.want)
		}
	}
	if r := b.run(t, "", "serve", "--help"); r.code != ExitOK || !strings.Contains(r.stdout, "-request-timeout") {
		t.Errorf("serve --help: %+v", r)
	}
}

// TestServeStopsGracefully: a cancelled context (SIGTERM in cmd/enqueue)
// stops the server; a request in flight is answered first, the status is
// 0, and the log says it stopped cleanly.
func TestServeStopsGracefully(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	logs := &lockedWriter{w: &bytes.Buffer{}}
	b.cfg.Logger = zerolog.New(logs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan result, 1)
	go func() {
		exit <- b.runCtx(ctx, "", "serve", "--addr", "127.0.0.1:0", "--shutdown-timeout", "5s")
	}()
	addr := waitListening(t, logs)
	// A bulk request whose body is still arriving when the stop begins.
	pr, pw := io.Pipe()
	answered := make(chan *http.Response, 1)
	go func() {
		res, err := http.Post("http://"+addr+"/v1/jobs:bulk", "application/x-ndjson", pr)
		if err != nil {
			t.Error(err)
		}
		answered <- res
	}()
	io.WriteString(pw, `{"type":"test.echo","payload":{"msg":"a"}}`+"\n")
	time.Sleep(100 * time.Millisecond)
	cancel()
	time.Sleep(100 * time.Millisecond)
	io.WriteString(pw, `{"type":"test.echo","payload":{"msg":"b"}}`+"\n")
	pw.Close()
	res := <-answered
	if res == nil {
		t.Fatal("no answer")
	}
	defer res.Body.Close()
	var rep bulkSummary
	if err := json.NewDecoder(res.Body).Decode(&rep); err != nil || res.StatusCode != http.StatusOK || rep.Enqueued != 2 {
		t.Fatalf("in-flight request: %d %+v %v", res.StatusCode, rep, err)
	}
	select {
	case r := <-exit:
		if r.code != ExitOK || r.stderr != "" {
			t.Fatalf("serve: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after its context ended")
	}
	if !strings.Contains(logs.String(), `"event":"api.stopped","clean":true`) {
		t.Errorf("logs:\n%s", logs)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("the server still answers after it stopped")
	}
}

// listeningRE finds the address of the api.listening log line.
var listeningRE = regexp.MustCompile(`"event":"api.listening","addr":"([^"]+)"`)

// waitListening returns the address the server logged it listens on.
func waitListening(t *testing.T, logs interface{ String() string }) string {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				return m[1]
			}
		}
	}
	t.Fatalf("the server never logged api.listening:\n%s", logs.String())
	return ""
}

// TestRoutesMatchTheDocument: the API serves exactly the operations of
// openapi.yaml.
func TestRoutesMatchTheDocument(t *testing.T) {
	t.Parallel()
	doc, _ := loadContract(t, "")
	var documented, served []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	for _, rt := range (&api{}).routes() {
		served = append(served, rt.method+" "+rt.path)
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("the document has\n%s\nthe server serves\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}

// TestLogThrottle: one line per interval, and the count of the others.
func TestLogThrottle(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	l := &logThrottle{every: time.Second, now: func() time.Time { return now }}
	var got []string
	for i := range 25 {
		if ok, n := l.allow(); ok {
			got = append(got, fmt.Sprintf("%d:%d", i, n))
		}
		now = now.Add(100 * time.Millisecond)
	}
	if want := []string{"0:0", "10:9", "20:9"}; !slices.Equal(got, want) {
		t.Fatalf("logged %v, want %v", got, want)
	}
}
