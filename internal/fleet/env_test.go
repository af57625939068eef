package fleet_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/fleet"
	"github.com/jobrunner/jobrunner/internal/lockcore"
)

func TestParseLimits(t *testing.T) {
	t.Parallel()
	got, err := fleet.ParseLimits("payment-api=concurrency:10,rate:100/s; hooks.example.com=rate:5/m,burst:5;")
	want := map[string]fleet.Limit{
		"payment-api":       {Concurrency: 10, Rate: lockcore.Rate{N: 100, Per: time.Second}},
		"hooks.example.com": {Rate: lockcore.Rate{N: 5, Per: time.Minute, Burst: 5}},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseLimits = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"x", "x=", "=concurrency:1", "x=concurrency:0", "x=rate:5/d", "x=burst:2", "x=foo:1",
		"x=concurrency:1;x=concurrency:2", "x=concurrency:1,concurrency:2"} {
		if _, err := fleet.ParseLimits(bad); err == nil {
			t.Errorf("ParseLimits(%q) succeeded", bad)
		} else if !strings.Contains(err.Error(), "entry") {
			t.Errorf("ParseLimits(%q): %v; want the entry named", bad, err)
		}
	}
}

func TestParseQueuesAndShared(t *testing.T) {
	t.Parallel()
	q, err := fleet.ParseQueues("critical=6, default=3,low=1")
	if err != nil || !reflect.DeepEqual(q, map[string]int{"critical": 6, "default": 3, "low": 1}) {
		t.Fatalf("ParseQueues = %v, %v", q, err)
	}
	if names := fleet.QueueNames(q); !reflect.DeepEqual(names, []string{"critical", "default", "low"}) {
		t.Errorf("QueueNames = %v", names)
	}
	for _, bad := range []string{"", "a", "a=0", "a=1,a=2", "=1"} {
		if _, err := fleet.ParseQueues(bad); err == nil {
			t.Errorf("ParseQueues(%q) succeeded", bad)
		}
	}
	if s, err := fleet.ParseShared(" a, b "); err != nil || !reflect.DeepEqual(s, []string{"a", "b"}) {
		t.Errorf("ParseShared = %v, %v", s, err)
	}
	if s, err := fleet.ParseShared(""); err != nil || s != nil {
		t.Errorf("ParseShared(\"\") = %v, %v; want none", s, err)
	}
	if _, err := fleet.ParseShared("a,,b"); err == nil {
		t.Error("ParseShared with an empty name succeeded")
	}
}

func TestMsText(t *testing.T) {
	t.Parallel()
	for ms, want := range map[int64]string{
		850: "850ms", 12_000: "12s", 250_000: "4m10s", 3*3600_000 + 300_000: "3h05m", 52 * 3600_000: "2d04h",
	} {
		if got := fleet.MsText(ms); got != want {
			t.Errorf("MsText(%d) = %q; want %q", ms, got, want)
		}
	}
}
