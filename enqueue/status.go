package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jobrunner/jobrunner/internal/fleet"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/schedule"
)

// StatusTimeout bounds --status's reading of Redis, after the connection.
const StatusTimeout = 5 * time.Second

// checkStatus reports flags that make no sense with --status.
func (f *flags) checkStatus() error {
	switch {
	case len(f.args) > 0:
		return fmt.Errorf("--status takes no TYPE or PAYLOAD_JSON arguments, got %q", f.args[0])
	case f.file != "" || f.payloadFile != "":
		return errors.New("--status reads the fleet's state; it takes no --file or --payload-file")
	case f.wait || f.dryRun || f.schedules:
		return errors.New("--status reads the fleet's state; it takes no --wait, --dry-run or --schedules")
	}
	return nil
}

// statusConfig reads the worker's variables that say what --status reads:
// WORKER_QUEUES, WORKER_DEPENDENCY_LIMITS, WORKER_SHARED_BREAKERS and
// WORKER_SCHEDULES, as cmd/worker reads them.
func (c *cli) statusConfig() (fleet.Config, error) {
	var cfg fleet.Config
	queues := c.getenv(fleet.QueuesEnv)
	if queues == "" {
		queues = "default=1"
	}
	q, err := fleet.ParseQueues(queues)
	if err != nil {
		return cfg, fmt.Errorf("%s=%q: %w", fleet.QueuesEnv, queues, err)
	}
	cfg.Queues = fleet.QueueNames(q)
	if cfg.Limits, err = fleet.ParseLimits(c.getenv(fleet.LimitsEnv)); err != nil {
		return cfg, fmt.Errorf("%s=%q: %w", fleet.LimitsEnv, c.getenv(fleet.LimitsEnv), err)
	}
	if cfg.SharedBreakers, err = fleet.ParseShared(c.getenv(fleet.SharedBreakersEnv)); err != nil {
		return cfg, fmt.Errorf("%s=%q: %w", fleet.SharedBreakersEnv, c.getenv(fleet.SharedBreakersEnv), err)
	}
	entries, err := schedule.Parse(c.getenv(SchedulesEnv), c.cfg.Registry)
	if err != nil {
		return cfg, fmt.Errorf("%s %w", SchedulesEnv, err)
	}
	for _, e := range entries {
		queue := job.QueueDefault
		if spec, ok := c.cfg.Registry.Lookup(e.Type); ok {
			queue = spec.Options().Queue
		}
		cfg.Schedules = append(cfg.Schedules, fleet.Schedule{Entry: e, Queue: queue})
	}
	return cfg, nil
}

// printStatus prints the fleet-wide state read from Redis alone: the
// shared breakers, the dependency limits, the schedules, the deferred
// jobs and the batches in progress. A part that could not be read is an
// error line on stderr and exit status 1; the other parts are printed.
func (c *cli) printStatus(ctx context.Context) int {
	cfg, err := c.statusConfig()
	if err != nil {
		return c.fail(ExitUsage, err)
	}
	rdb, err := c.connect(ctx)
	if err != nil {
		return c.failConnect(ctx, err)
	}
	defer rdb.Close()
	sc := c.cfg.Sanitizer
	sc.Secrets = append(slices.Clip(sc.Secrets), c.redisSecrets...)
	cfg.Redis, cfg.Sanitize, cfg.Now = rdb, job.NewSanitizer(sc).Sanitize, c.cfg.now
	rctx, cancel := context.WithTimeout(ctx, StatusTimeout)
	st := fleet.Read(rctx, cfg)
	cancel()
	if c.f.output == "json" {
		_ = json.NewEncoder(c.stdout).Encode(st)
	} else {
		writeStatus(c.stdout, st)
	}
	if ctx.Err() != nil {
		return c.fail(ExitInterrupted, errors.New("interrupted while reading the status"))
	}
	for _, e := range st.Errors {
		c.fail(ExitError, fmt.Errorf("could not read the %s: %s", e.Section, e.Error))
	}
	if len(st.Errors) > 0 {
		return ExitError
	}
	return ExitOK
}

// writeStatus prints st as text: a table per part.
func writeStatus(w io.Writer, st fleet.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	dur := func(ms int64) string {
		if ms <= 0 {
			return "-"
		}
		return fleet.MsText(ms)
	}
	or := func(s, none string) string {
		if s == "" {
			return none
		}
		return s
	}

	fmt.Fprintln(tw, "SHARED BREAKERS")
	if len(st.Breakers) == 0 {
		fmt.Fprintln(tw, "none in use")
	} else {
		fmt.Fprintln(tw, "DEPENDENCY\tSTATE\tFAILURES\tTRIES AGAIN IN")
		for _, b := range st.Breakers {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", b.Dependency, b.State, b.Failures, dur(b.RetryInMS))
		}
	}

	fmt.Fprintln(tw, "\nDEPENDENCY LIMITS")
	if len(st.Limits) == 0 {
		fmt.Fprintf(tw, "none configured (%s)\n", fleet.LimitsEnv)
	} else {
		fmt.Fprintln(tw, "DEPENDENCY\tIN USE\tHELD BY\tWAITING\tRATE\tSTARTS\tQUEUE\tPAUSED")
		for _, l := range st.Limits {
			inUse, holders, waiting := "-", "-", "-"
			if cc := l.Concurrency; cc != nil {
				inUse, waiting = fmt.Sprintf("%d/%d", cc.InUse, cc.Limit), fmt.Sprint(cc.Waiting)
				var ids []string
				for _, h := range cc.Holders {
					ids = append(ids, h.TaskID)
				}
				holders = or(strings.Join(ids, ","), "-")
			}
			rate, starts, queue, paused := "-", "-", "-", "-"
			if r := l.Rate; r != nil {
				rate, starts, queue, paused = r.Limit, fmt.Sprintf("%d/%d", r.Starts, r.Capacity), dur(r.QueueMS), dur(r.PausedMS)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Dependency, inUse, holders, waiting, rate, starts, queue, paused)
		}
	}

	fmt.Fprintln(tw, "\nSCHEDULES")
	if len(st.Schedules) == 0 {
		fmt.Fprintf(tw, "none configured (%s)\n", SchedulesEnv)
	} else {
		fmt.Fprintln(tw, "NAME\tNEXT TICK\tLAST ENQUEUED\tLAST TASK\tLAST SKIPPED\tMISSED\tOVERLAPPING")
		for _, s := range st.Schedules {
			task := "-"
			if s.LastTask != nil {
				task = s.LastTask.State
			}
			overlapping := "no"
			if s.Overlapping {
				overlapping = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.Name, s.NextTick, or(s.LastEnqueued, "never"), task, or(s.LastSkipped, "-"), s.Missed, overlapping)
		}
	}

	d := st.Deferred
	sampled := ""
	if d.Sampled {
		sampled = " (a sample: the soonest due of each set)"
	}
	fmt.Fprintf(tw, "\nDEFERRED JOBS%s\n", sampled)
	if d.Total == 0 {
		fmt.Fprintln(tw, "none found")
	} else {
		fmt.Fprintln(tw, "REASON\tQUEUE\tJOBS\tOLDEST\tNEXT IN")
		for _, g := range d.ByReason {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", g.Reason, g.Queue, g.Count, dur(g.OldestAgeMS), dur(g.NextInMS))
		}
	}
	for _, q := range d.Queues {
		fmt.Fprintf(tw, "queue %s: %d in retry (%d of those read after a failure), %d scheduled, %d read\n", q.Queue, q.Retry, q.Retrying, q.Scheduled, q.Read)
	}

	b := st.Batches
	fmt.Fprintln(tw, "\nBATCHES IN PROGRESS")
	if len(b.InProgress) == 0 {
		fmt.Fprintln(tw, "none")
	} else {
		fmt.Fprintln(tw, "ID\tDONE\tARCHIVED\tSTATE\tCALLBACK\tOPENED\tAGE")
		for _, x := range b.InProgress {
			state := "open"
			if x.Closed {
				state = "closed"
			}
			fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%s\t%s\t%s\t%s\n", x.ID, x.Done, x.Total, x.Archived, state, or(x.Callback, "-"), or(x.Opened, "-"), dur(x.AgeMS))
		}
	}
	if b.Indexed > 0 {
		fmt.Fprintf(tw, "the newest %d of %d indexed batches read, %d of them finished\n", b.Read, b.Indexed, b.Finished)
	}
}
