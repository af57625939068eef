package enqueue

import (
	"strings"
	"testing"
	"time"
)

// scheduleBundle is a CLI whose clock reads 2026-01-02T03:04:05Z and whose
// Redis URL leads nowhere: --schedules must not need Redis.
func scheduleBundle(t *testing.T, schedules string) *testBundle {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &testBundle{
		cfg: Config{Registry: testRegistry(t), now: func() time.Time { return now }},
		env: map[string]string{"REDIS_URL": "redis://127.0.0.1:1", SchedulesEnv: schedules},
	}
}

const testSchedules = `
# the worker's periodic jobs
*/5 * * * * demo.sleep {"ms":10}
CRON_TZ=Europe/Paris 0 3 * * * test.echo {"msg": "nightly"} name=nightly catch_up=1 no_overlap
@every 30s demo.sleep {} name=beat
`

func TestSchedulesGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, output string }{{"schedules.txt.golden", "text"}, {"schedules.json.golden", "json"}} {
		r := scheduleBundle(t, testSchedules).run(t, "", "--schedules", "--output", tt.output)
		if r.code != ExitOK || r.stderr != "" {
			t.Fatalf("--output %s: exit %d, stderr %q", tt.output, r.code, r.stderr)
		}
		golden(t, tt.name, r.stdout)
	}
}

func TestSchedulesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		schedules string
		args      []string
		want      string
	}{
		{"@hourly demo.sleep {}\n@hourly test.echo {}", []string{"--schedules"},
			`enqueue: WORKER_SCHEDULES line 2 "@hourly test.echo {}": job test.echo: invalid payload: field "msg": is required` + "\n"},
		{"@hourly webhook.deliver {}", []string{"--schedules"},
			`enqueue: WORKER_SCHEDULES line 1 "@hourly webhook.deliver {}": job type "webhook.deliver" is not registered (known: demo.sleep, test.echo)` + "\n"},
		{"", []string{"--schedules", "demo.sleep"},
			`enqueue: --schedules takes no TYPE or PAYLOAD_JSON arguments, got "demo.sleep" (see --help)` + "\n"},
		{"", []string{"--schedules", "--file", "x.jsonl"},
			`enqueue: --schedules lists schedules; it takes no --file or --payload-file (see --help)` + "\n"},
	}
	for _, tt := range tests {
		r := scheduleBundle(t, tt.schedules).run(t, "", tt.args...)
		if r.code != ExitUsage || r.stderr != tt.want || r.stdout != "" {
			t.Errorf("%q %v: exit %d, stdout %q, stderr\n%s\nwant exit 2 and\n%s", tt.schedules, tt.args, r.code, r.stdout, r.stderr, tt.want)
		}
	}
}

func TestSchedulesEmpty(t *testing.T) {
	t.Parallel()
	r := scheduleBundle(t, "").run(t, "", "--schedules")
	if r.code != ExitOK || !strings.Contains(r.stdout, "no schedules: WORKER_SCHEDULES is empty") {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	if r := scheduleBundle(t, "").run(t, "", "--schedules", "--output", "json"); r.code != ExitOK || r.stdout != "" {
		t.Fatalf("json: exit %d, stdout %q", r.code, r.stdout)
	}
}
