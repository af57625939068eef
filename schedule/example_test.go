package schedule_test

import (
	"context"
	"fmt"
	"time"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/schedule"
)

// Example parses the lines of a worker's WORKER_SCHEDULES and shows what
// every replica computes alike: the name, the next tick and its task ID.
func Example() {
	type report struct {
		Kind string `json:"kind"`
	}
	reg := job.NewRegistry()
	if err := reg.Register(&job.Definition[report]{Type: "report.nightly", Handle: func(context.Context, report) error { return nil }}); err != nil {
		panic(err)
	}
	entries, err := schedule.Parse(`
CRON_TZ=Europe/Paris 0 3 * * * report.nightly {"kind": "sales"} name=sales catch_up=1 no_overlap
@every 6h report.nightly {"kind":"stock"}
`, reg)
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, e := range entries {
		next := e.Next(now)
		fmt.Println(e.Name, string(e.Payload), "catch_up", e.CatchUp, "no_overlap", e.NoOverlap)
		fmt.Println("  next", next.Format(time.RFC3339), "task", e.TaskID(next))
	}
	// Output:
	// sales {"kind":"sales"} catch_up 1 no_overlap true
	//   next 2026-01-03T03:00:00+01:00 task schedule:sales:2026-01-03T02:00:00Z
	// report.nightly-b7a895030acf {"kind":"stock"} catch_up 0 no_overlap false
	//   next 2026-01-02T06:00:00Z task schedule:report.nightly-b7a895030acf:2026-01-02T06:00:00Z
}
