package enqueue

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/jobrunner/jobrunner/schedule"
)

// SchedulesEnv is the environment variable --schedules lists: the worker's
// own (cmd/worker reads the same), so that the CLI run with the worker's
// environment shows what the worker runs.
const SchedulesEnv = "WORKER_SCHEDULES"

// checkSchedules reports flags that make no sense with --schedules.
func (f *flags) checkSchedules() error {
	switch {
	case len(f.args) > 0:
		return fmt.Errorf("--schedules takes no TYPE or PAYLOAD_JSON arguments, got %q", f.args[0])
	case f.file != "" || f.payloadFile != "":
		return errors.New("--schedules lists schedules; it takes no --file or --payload-file")
	case f.wait || f.dryRun:
		return errors.New("--schedules lists schedules; it takes no --wait or --dry-run")
	}
	return nil
}

// scheduleJSON is a schedule as --schedules --output json prints it.
type scheduleJSON struct {
	Name       string          `json:"name"`
	Spec       string          `json:"spec"`
	Type       string          `json:"type"`
	Payload    json.RawMessage `json:"payload"`
	NextRun    string          `json:"next_run"`
	NextTaskID string          `json:"next_task_id"`
	CatchUp    int             `json:"catch_up"`
	NoOverlap  bool            `json:"no_overlap"`
}

// listSchedules prints the schedules of $WORKER_SCHEDULES, checked as the
// worker checks them (the payloads by the registry's definitions), with
// their next run after now. It touches no Redis.
func (c *cli) listSchedules() int {
	entries, err := schedule.Parse(c.getenv(SchedulesEnv), c.cfg.Registry)
	if err != nil {
		return c.fail(ExitUsage, fmt.Errorf("%s %w", SchedulesEnv, err))
	}
	now := c.cfg.now()
	if c.f.output == "json" {
		enc := json.NewEncoder(c.stdout)
		for _, e := range entries {
			next := e.Next(now)
			_ = enc.Encode(scheduleJSON{Name: e.Name, Spec: e.Spec, Type: e.Type, Payload: json.RawMessage(e.Payload),
				NextRun: next.Format(time.RFC3339), NextTaskID: e.TaskID(next), CatchUp: e.CatchUp, NoOverlap: e.NoOverlap})
		}
		return ExitOK
	}
	if len(entries) == 0 {
		fmt.Fprintf(c.stdout, "no schedules: %s is empty\n", SchedulesEnv)
		return ExitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNEXT RUN\tSPEC\tTYPE\tPAYLOAD\tMISSED TICKS\tOVERLAP")
	for _, e := range entries {
		missed, overlap := "skip", "allowed"
		if e.CatchUp > 0 {
			missed = fmt.Sprintf("catch_up=%d", e.CatchUp)
		}
		if e.NoOverlap {
			overlap = "never"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Next(now).Format(time.RFC3339), e.Spec, e.Type, e.Payload, missed, overlap)
	}
	_ = tw.Flush()
	return ExitOK
}
