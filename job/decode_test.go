package job_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/job"
)

type order struct {
	ID    int      `json:"id"`
	Email string   `json:"email"`
	Tags  []string `json:"tags,omitempty"`
	Ship  *struct {
		Zip string `json:"zip"`
	} `json:"ship,omitempty"`
}

func (o order) Validate() error {
	if o.ID <= 0 {
		return job.FieldError("id", "must be positive, got %d", o.ID)
	}
	return nil
}

func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, payload, field, msg string
	}{
		{"ok", `{"id":1,"email":"a@b"}`, "", ""},
		{"unknown field", `{"id":1,"emial":"a@b"}`, "emial", "unknown field"},
		{"wrong type", `{"id":"1"}`, "id", "want int, got JSON string"},
		{"nested wrong type", `{"id":1,"ship":{"zip":5}}`, "ship.zip", "want string"},
		{"not json", `{"id":`, "", "not valid JSON"},
		{"garbage", `hello`, "", "not valid JSON"},
		{"empty", ``, "", "payload is empty"},
		{"trailing", `{"id":1} {"id":2}`, "", "trailing data"},
		{"validate", `{"id":0}`, "id", "must be positive"},
		{"top-level array", `[1]`, "", "want job_test.order"},
		{"null", `null`, "", "payload is null"},
		{"null with space", " null\n", "", "payload is null"},
		{"duplicate key", `{"id":1,"id":2}`, "id", "duplicate key"},
		{"duplicate key, valid last", `{"id":-1,"id":2}`, "id", "duplicate key"},
		{"duplicate key, escaped", `{"id":1,"\u0069d":2}`, "id", "duplicate key"},
		{"nested duplicate key", `{"id":1,"ship":{"zip":"a","zip":"b"}}`, "ship.zip", "duplicate key"},
		{"ok: same key in two objects", `{"id":1,"email":"e","ship":{"zip":"a"},"tags":["id"]}`, "", ""},
		{"ok: null inside", `{"id":1,"ship":null}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := job.Decode[order]([]byte(tt.payload))
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			var pe *job.PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *PayloadError", err, err)
			}
			if pe.Field != tt.field {
				t.Errorf("Field = %q, want %q (err %v)", pe.Field, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.msg)
			}
			if !pe.Permanent() {
				t.Error("payload errors must be permanent")
			}
		})
	}
}

func TestDefinitionPrepare(t *testing.T) {
	t.Parallel()
	var got order
	d := &job.Definition[order]{
		Type:         "order.ship",
		Handle:       func(_ context.Context, o order) error { got = o; return nil },
		DedupeKey:    func(o order) string { return "order:" + o.Email },
		Lock:         func(o order) job.Lock { return job.Lock{Key: "mail:" + o.Email} },
		Dependencies: func(order) []string { return []string{"smtp"} },
	}
	p, err := d.Prepare([]byte(`{"id":7,"email":"x@y"}`))
	if err != nil {
		t.Fatal(err)
	}
	// Zero TTL and wait: the lock store's defaults apply.
	if p.DedupeKey != "order:x@y" || p.Lock.Key != "mail:x@y" || p.Lock.TTL != 0 ||
		p.Lock.Wait != 0 || len(p.Dependencies) != 1 || p.DedupeByTaskID {
		t.Fatalf("prepared = %+v", p)
	}
	if err := p.Run(context.Background()); err != nil || got.ID != 7 {
		t.Fatalf("Run: %v, got %+v", err, got)
	}
	if err := (job.Prepared{Payload: got}).Run(context.Background()); err == nil {
		t.Fatal("Run of a Prepared made by hand ran something")
	}
	_, err = d.Prepare([]byte(`{"id":-1}`))
	if err == nil || !strings.HasPrefix(err.Error(), `job order.ship: invalid payload: field "id"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	o := (&job.Definition[order]{Type: "a"}).Options()
	if o.Queue != "default" || o.Timeout != job.TimeoutDefault || o.MaxRetry != job.MaxRetryDefault {
		t.Fatalf("defaults = %+v", o)
	}
	// One meaning for MaxRetry: NoRetry stays NoRetry (TaskOptions gives
	// asynq MaxRetry(0)).
	if o := (&job.Definition[order]{Type: "a", MaxRetry: job.NoRetry}).Options(); o.MaxRetry != job.NoRetry {
		t.Fatalf("NoRetry gives MaxRetry %d", o.MaxRetry)
	}
}

func TestDedupeByTaskID(t *testing.T) {
	t.Parallel()
	d := &job.Definition[order]{Type: "a", DedupeKey: job.ByTaskID[order], Handle: func(context.Context, order) error { return nil }}
	p, err := d.Prepare([]byte(`{"id":7}`))
	if err != nil {
		t.Fatal(err)
	}
	if !p.DedupeByTaskID || p.DedupeKey != "" {
		t.Fatalf("prepared = %+v, want dedupe by task ID", p)
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	h := func(context.Context, order) error { return nil }
	r := job.NewRegistry()
	a := &job.Definition[order]{Type: "a", Handle: h}
	if err := r.Register(a, &job.Definition[order]{Type: "b", Handle: h}); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(&job.Definition[order]{Type: "a", Handle: h}); err == nil {
		t.Fatal("duplicate type registered")
	}
	if err := r.Register(&job.Definition[order]{Type: "c"}); err == nil {
		t.Fatal("definition without Handle registered")
	}
	if err := r.Register(&job.Definition[order]{Type: "d", Handle: h}, &job.Definition[order]{Type: "", Handle: h}); err == nil {
		t.Fatal("empty type registered")
	}
	if _, ok := r.Lookup("d"); ok {
		t.Fatal("failed Register added some specs")
	}
	if s, ok := r.Lookup("a"); !ok || s != a {
		t.Fatal("Lookup(a)")
	}
	if got := strings.Join(r.Types(), ","); got != "a,b" {
		t.Fatalf("Kinds = %s", got)
	}
}

func TestDedupeWindowValidated(t *testing.T) {
	t.Parallel()
	h := func(context.Context, order) error { return nil }
	for w, ok := range map[time.Duration]bool{0: true, job.DedupeWindowMin: true, 7 * 24 * time.Hour: true, -time.Hour: false, time.Millisecond: false} {
		d := &job.Definition[order]{Type: "w", Handle: h, DedupeWindow: w}
		if err := job.NewRegistry().Register(d); (err == nil) != ok {
			t.Errorf("DedupeWindow %v: Register error %v, want ok=%v", w, err, ok)
		}
		if got := d.Options().DedupeWindow; got != w {
			t.Errorf("Options().DedupeWindow = %v, want %v", got, w)
		}
	}
}

func TestNewTaskValidates(t *testing.T) {
	t.Parallel()
	d := &job.Definition[order]{Type: "order.ship", Queue: "critical", Handle: func(context.Context, order) error { return nil }}
	if _, err := d.NewTask(order{ID: 0}); err == nil || !strings.Contains(err.Error(), `field "id"`) {
		t.Fatalf("NewTask(invalid) err = %v", err)
	}
	task, err := d.NewTask(order{ID: 3, Email: "e"})
	if err != nil {
		t.Fatal(err)
	}
	if string(task.Payload()) != `{"id":3,"email":"e"}` || task.Type() != "order.ship" {
		t.Fatalf("task = %s %s", task.Type(), task.Payload())
	}
}

// TestDecodeAfterRefusedPayloads: strict decoding reuses its JSON decoders
// between payloads, so a payload it refused (trailing data, a wrong type,
// an unknown field, cut short) must leave nothing behind for the next one.
func TestDecodeAfterRefusedPayloads(t *testing.T) {
	for range 3 {
		for _, tc := range []struct {
			in   string
			want int // the ID decoded; 0 when the payload is refused
		}{
			{`{"id":1} {"id":9}`, 0},
			{`{"id":2}`, 2},
			{`{"id":"3"}`, 0},
			{"\n\t{\"id\":4}\r\n", 4},
			{`{"id":5,"extra":1}`, 0},
			{`{"id":6, "tags":["a"]}`, 6},
			{`{"id":7`, 0},
			{`{"id":8}}`, 0},
			{`{"id":10,"email":"` + strings.Repeat("x", 20<<10) + `"}`, 10},
			{`{"id":11}`, 11},
		} {
			p, err := job.Decode[order]([]byte(tc.in))
			if tc.want == 0 {
				if err == nil {
					t.Fatalf("Decode(%.40q) = %+v, want an error", tc.in, p)
				}
				continue
			}
			if err != nil || p.ID != tc.want {
				t.Fatalf("Decode(%.40q) = %+v, %v; want ID %d", tc.in, p, err, tc.want)
			}
		}
	}
}
