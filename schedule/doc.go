// Package schedule declares periodic jobs: a cron spec, a job type and the
// payload each tick enqueues. The runner runs them (runner.Runner.Schedule,
// cmd/worker's WORKER_SCHEDULES) on every replica without a leader; this
// package is what the runner, cmd/worker and the enqueue CLI share, and it
// does not import the runner.
//
// # Declaring
//
//	s, err := schedule.For(ReportNightly, "CRON_TZ=Europe/Paris 0 3 * * *", Report{Kind: "sales"})
//	if err != nil { ... }
//	s.CatchUp = 1      // after an outage, run the last missed night once
//	s.NoOverlap = true // never two reports at once
//	err = r.Schedule(s) // after r.Register(ReportNightly), before r.Start
//
// The same schedule as a line of cmd/worker's WORKER_SCHEDULES (see Parse):
//
//	CRON_TZ=Europe/Paris 0 3 * * * report.nightly {"kind":"sales"} catch_up=1 no_overlap
//
// # Ticks are the same on every replica
//
// A spec without a zone runs in UTC, and "@every D" ticks at the multiples
// of D since the Unix epoch, so every replica computes the same tick times
// whatever its local zone or start time. Each tick's task ID
// (Entry.TaskID) derives from the schedule's name and the tick, so every
// replica enqueues the same task and asynq refuses all but the first.
//
// Parsing is robfig/cron's (github.com/robfig/cron/v3); its scheduler is not
// used.
//
// See docs/periodic-jobs.md for the WORKER_SCHEDULES format and what a tick
// guarantees.
package schedule
