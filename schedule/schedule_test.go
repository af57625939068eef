package schedule_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/schedule"
)

type sleepArgs struct {
	MS int `json:"ms"`
}

func (a sleepArgs) Validate() error {
	if a.MS < 0 {
		return job.FieldError("ms", "must be >= 0, got %d", a.MS)
	}
	return nil
}

var sleepJob = &job.Definition[sleepArgs]{Type: "demo.sleep", Handle: func(context.Context, sleepArgs) error { return nil }}

func registry(t *testing.T) *job.Registry {
	t.Helper()
	reg := job.NewRegistry()
	if err := reg.Register(sleepJob); err != nil {
		t.Fatal(err)
	}
	return reg
}

func compile(t *testing.T, s schedule.Schedule) *schedule.Entry {
	t.Helper()
	e, err := schedule.Compile(s, registry(t))
	if err != nil {
		t.Fatalf("Compile(%+v): %v", s, err)
	}
	return e
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec, from, want string
	}{
		{"*/5 * * * *", "2026-01-02T03:04:05Z", "2026-01-02T03:05:00Z"},
		{"*/5 * * * *", "2026-01-02T03:05:00Z", "2026-01-02T03:10:00Z"}, // strictly after
		{"@hourly", "2026-01-02T03:04:05Z", "2026-01-02T04:00:00Z"},
		{"@daily", "2026-01-02T03:04:05Z", "2026-01-03T00:00:00Z"},
		// Fields are in UTC unless a zone is given, whatever time.Local is.
		{"0 3 * * *", "2026-01-02T00:00:00Z", "2026-01-02T03:00:00Z"},
		{"CRON_TZ=Europe/Paris 0 3 * * *", "2026-01-02T00:00:00Z", "2026-01-02T02:00:00Z"},
		{"TZ=America/New_York @daily", "2026-01-02T00:00:00Z", "2026-01-02T05:00:00Z"},
		// @every ticks at multiples of its period since the epoch, not
		// relative to when it is asked.
		{"@every 1s", "2026-01-02T03:04:05.9Z", "2026-01-02T03:04:06Z"},
		{"@every 30s", "2026-01-02T03:04:05Z", "2026-01-02T03:04:30Z"},
		{"@every 30s", "2026-01-02T03:04:30Z", "2026-01-02T03:05:00Z"},
		{"@every 1h", "2026-01-02T03:04:05Z", "2026-01-02T04:00:00Z"},
		{"@every 7s", "1970-01-01T00:00:13Z", "1970-01-01T00:00:14Z"},
	}
	for _, tt := range tests {
		e := compile(t, schedule.Schedule{Spec: tt.spec, Type: "demo.sleep"})
		got := e.Next(at(tt.from))
		if !got.Equal(at(tt.want)) {
			t.Errorf("%q.Next(%s) = %s, want %s", tt.spec, tt.from, got.UTC().Format(time.RFC3339), tt.want)
		}
	}
}

// TestEveryAgreesAcrossStartTimes: two replicas asking at different
// moments get the same ticks, the property the task IDs rely on.
func TestEveryAgreesAcrossStartTimes(t *testing.T) {
	t.Parallel()
	e := compile(t, schedule.Schedule{Spec: "@every 10s", Type: "demo.sleep"})
	a, b := e.Next(at("2026-01-02T03:04:01.25Z")), e.Next(at("2026-01-02T03:04:07.5Z"))
	if !a.Equal(b) || !a.Equal(at("2026-01-02T03:04:10Z")) {
		t.Fatalf("ticks %s and %s, want both 03:04:10", a, b)
	}
	if e.TaskID(a) != e.TaskID(b) {
		t.Fatalf("task IDs differ: %s, %s", e.TaskID(a), e.TaskID(b))
	}
}

func TestNameAndTaskID(t *testing.T) {
	t.Parallel()
	a := compile(t, schedule.Schedule{Spec: "*/5  *  * * *", Type: "demo.sleep", Payload: []byte(`{ "ms": 10 }`)})
	b := compile(t, schedule.Schedule{Spec: "*/5 * * * *", Type: "demo.sleep", Payload: []byte(`{"ms":10}`)})
	if a.Name != b.Name || !strings.HasPrefix(a.Name, "demo.sleep-") || len(a.Name) != len("demo.sleep-")+12 {
		t.Fatalf("names %q and %q: want one stable demo.sleep-<12 hex> name for the same schedule", a.Name, b.Name)
	}
	if a.Spec != "*/5 * * * *" || string(a.Payload) != `{"ms":10}` {
		t.Fatalf("not normalised: spec %q payload %s", a.Spec, a.Payload)
	}
	c := compile(t, schedule.Schedule{Spec: "*/5 * * * *", Type: "demo.sleep", Payload: []byte(`{"ms":11}`)})
	if c.Name == a.Name {
		t.Fatalf("a different payload has the same name %q", c.Name)
	}
	// The policy is not part of the identity.
	d := compile(t, schedule.Schedule{Spec: "*/5 * * * *", Type: "demo.sleep", Payload: []byte(`{"ms":10}`), CatchUp: 3, NoOverlap: true})
	if d.Name != a.Name {
		t.Fatalf("catch_up changed the name: %q vs %q", d.Name, a.Name)
	}
	named := compile(t, schedule.Schedule{Name: "nightly", Spec: "@daily", Type: "demo.sleep"})
	tick := at("2026-01-03T00:00:00+01:00")
	if got, want := named.TaskID(tick), "schedule:nightly:2026-01-02T23:00:00Z"; got != want {
		t.Fatalf("TaskID = %q, want %q", got, want)
	}
	if string(named.Payload) != "{}" {
		t.Fatalf("nil payload became %s, want {}", named.Payload)
	}
}

func TestPeriod(t *testing.T) {
	t.Parallel()
	e := compile(t, schedule.Schedule{Spec: "0 9 * * 1-5", Type: "demo.sleep"})
	fri := at("2026-01-02T09:00:00Z") // a Friday
	if got := e.Period(fri); got != 72*time.Hour {
		t.Fatalf("period after Friday 9:00 = %v, want 72h", got)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    schedule.Schedule
		want string
	}{
		{schedule.Schedule{Spec: "", Type: "demo.sleep"}, "cron spec is empty"},
		{schedule.Schedule{Spec: "* * *", Type: "demo.sleep"}, `want 5 fields`},
		{schedule.Schedule{Spec: "0 * * * * *", Type: "demo.sleep"}, `want 5 fields`},
		{schedule.Schedule{Spec: "61 * * * *", Type: "demo.sleep"}, `cron spec "61 * * * *": `},
		{schedule.Schedule{Spec: "0 0 30 2 *", Type: "demo.sleep"}, "never fires"},
		{schedule.Schedule{Spec: "@often", Type: "demo.sleep"}, `cron spec "@often"`},
		{schedule.Schedule{Spec: "@hourly x", Type: "demo.sleep"}, "a descriptor stands alone"},
		{schedule.Schedule{Spec: "@every 500ms", Type: "demo.sleep"}, "whole number of seconds"},
		{schedule.Schedule{Spec: "@every 1.5s", Type: "demo.sleep"}, "whole number of seconds"},
		{schedule.Schedule{Spec: "@every", Type: "demo.sleep"}, "want @every DURATION"},
		{schedule.Schedule{Spec: "CRON_TZ=UTC @every 1m", Type: "demo.sleep"}, "a time zone has no meaning"},
		{schedule.Schedule{Spec: "CRON_TZ=Mars/Base 0 3 * * *", Type: "demo.sleep"}, `time zone "Mars/Base"`},
		{schedule.Schedule{Spec: "@hourly", Type: "nope"}, `job type "nope" is not registered (known: demo.sleep)`},
		{schedule.Schedule{Spec: "@hourly", Type: ""}, "job type is empty"},
		{schedule.Schedule{Spec: "@hourly", Type: "demo.sleep", Payload: []byte(`{"ms":-1}`)}, `job demo.sleep: invalid payload: field "ms": must be >= 0`},
		{schedule.Schedule{Spec: "@hourly", Type: "demo.sleep", Payload: []byte(`{"ms":1,"x":2}`)}, `field "x": unknown field`},
		{schedule.Schedule{Spec: "@hourly", Type: "demo.sleep", Payload: []byte(`{"ms":`)}, "payload is not JSON"},
		{schedule.Schedule{Spec: "@hourly", Type: "demo.sleep", CatchUp: -1}, "catch_up -1"},
		{schedule.Schedule{Spec: "@hourly", Type: "demo.sleep", Name: "has space"}, `name "has space"`},
	}
	for _, tt := range tests {
		_, err := schedule.Compile(tt.s, registry(t))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%+v) = %v, want an error containing %q", tt.s, err, tt.want)
		}
	}
}

func TestCompileWithoutRegistry(t *testing.T) {
	t.Parallel()
	if _, err := schedule.Compile(schedule.Schedule{Spec: "@hourly", Type: "anything", Payload: []byte(`{"x":1}`)}, nil); err != nil {
		t.Fatalf("without a registry any type and JSON payload: %v", err)
	}
	if _, err := schedule.Compile(schedule.Schedule{Spec: "@hourly", Type: "anything", Payload: []byte(`null`)}, nil); err == nil {
		t.Fatal("a null payload was accepted")
	}
}

func TestFor(t *testing.T) {
	t.Parallel()
	s, err := schedule.For(sleepJob, "@every 1m", sleepArgs{MS: 5})
	if err != nil {
		t.Fatal(err)
	}
	e := compile(t, s)
	if e.Type != "demo.sleep" || string(e.Payload) != `{"ms":5}` {
		t.Fatalf("entry %+v", e.Schedule)
	}
}
