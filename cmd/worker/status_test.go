package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestStatusOnTheWorker: the built worker, configured by its environment,
// serves /status.json and /status on WORKER_HTTP_ADDR: a webhook
// receiver that keeps failing opens its shared breaker (listed from
// Redis's index, WORKER_SHARED_BREAKERS=*), the configured limit and
// schedule are there, and the job running shows in flight; the enqueue
// binary, given the same environment, prints the fleet-wide part from
// Redis alone. No payload appears in either.
func TestStatusOnTheWorker(t *testing.T) {
	srv := redistest.Start(t)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(receiver.Close)
	host := strings.TrimPrefix(receiver.URL, "http://")
	env := []string{
		"WORKER_QUEUES=critical=2,default=1",
		"WORKER_SHARED_BREAKERS=*",
		"WORKER_DEPENDENCY_LIMITS=" + host + "=concurrency:3",
		`WORKER_SCHEDULES=@every 3600s demo.sleep {"ms":1} name=hourly`,
	}
	w := workertest.Start(t, srv, env)
	client := asynq.NewClientFromRedisClient(srv.Client())
	t.Cleanup(func() { _ = client.Close() })
	const secret = "card-4111-payload-secret"
	for range 5 { // the breaker's threshold: 5 failures in a row
		body := `{"url":"` + receiver.URL + `/hook","body":{"card":"` + secret + `"}}`
		if _, err := client.Enqueue(asynq.NewTask("webhook.deliver", []byte(body)), asynq.MaxRetry(3)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Enqueue(asynq.NewTask("demo.sleep", []byte(`{"ms":20000}`)), asynq.TaskID("sleeping")); err != nil {
		t.Fatal(err)
	}

	var doc struct {
		InFlight []struct {
			TaskID string `json:"task_id"`
			Phase  string `json:"phase"`
		} `json:"in_flight"`
		Breakers []struct{ Dependency, Scope, State string } `json:"breakers"`
		Limits   []struct {
			Dependency  string
			Concurrency struct{ Limit int } `json:"concurrency"`
		} `json:"limits"`
		Schedules []struct{ Name, Queue string } `json:"schedules"`
		Deferred  struct {
			Queues []struct{ Queue string } `json:"queues"`
		} `json:"deferred"`
	}
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		var code int
		code, body = w.Get("/status.json")
		if code == 200 && json.Unmarshal([]byte(body), &doc) == nil && len(doc.InFlight) == 1 &&
			len(doc.Breakers) > 0 && doc.Breakers[0].State == "open" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/status.json never showed the open breaker and the job in flight: %d\n%s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if b := doc.Breakers[0]; b.Dependency != host || b.Scope != "shared" {
		t.Errorf("breaker %+v; want %s, shared", b, host)
	}
	if f := doc.InFlight[0]; f.TaskID != "sleeping" || f.Phase != "handler" {
		t.Errorf("in flight %+v", f)
	}
	if len(doc.Limits) != 1 || doc.Limits[0].Dependency != host || doc.Limits[0].Concurrency.Limit != 3 {
		t.Errorf("limits %+v", doc.Limits)
	}
	if len(doc.Schedules) != 1 || doc.Schedules[0].Name != "hourly" || doc.Schedules[0].Queue != "default" {
		t.Errorf("schedules %+v", doc.Schedules)
	}
	if len(doc.Deferred.Queues) != 2 || doc.Deferred.Queues[0].Queue != "critical" {
		t.Errorf("deferred queues %+v; want WORKER_QUEUES's", doc.Deferred.Queues)
	}
	code, page := w.Get("/status")
	if code != 200 || !strings.Contains(page, "Breaker "+host+" (shared) is open") {
		t.Errorf("/status: %d\n%s", code, page)
	}

	cmd := exec.Command(workertest.Build(t, "./cmd/enqueue"), "--status")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "REDIS_URL=" + srv.URL(), "GORACE=atexit_sleep_ms=0"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("enqueue --status: %v\n%s", err, out)
	}
	for _, want := range []string{host + "  open", "hourly", "queue critical:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("enqueue --status lacks %q:\n%s", want, out)
		}
	}
	for what, text := range map[string]string{"/status.json": body, "/status": page, "enqueue --status": string(out)} {
		if strings.Contains(text, secret) {
			t.Errorf("%s shows a payload", what)
		}
	}
	w.Kill() // not worth a drain: the sleeping job would hold it 20s
}
