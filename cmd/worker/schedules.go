package main

import (
	"github.com/jobrunner/jobrunner/job/builtin"
	"github.com/jobrunner/jobrunner/schedule"
)

// parseSchedules parses WORKER_SCHEDULES (see schedule.Parse) and checks
// each payload with the definitions the worker registers, as the enqueue
// CLI checks payloads. A bad line is a *schedule.LineError.
func parseSchedules(v string, c config) ([]schedule.Schedule, error) {
	entries, err := schedule.Parse(v, builtin.Registry(builtin.Config{WebhookDenyPrivate: c.WebhookDenyPrivate}))
	if err != nil {
		return nil, err
	}
	out := make([]schedule.Schedule, len(entries))
	for i, e := range entries {
		out[i] = e.Schedule
	}
	return out, nil
}
