package enqueue

import (
	"context"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

// progressJSON is one report of a waited-for job's progress, as --wait
// --output json prints it before the outcome.
type progressJSON struct {
	ID    string `json:"id"`
	Queue string `json:"queue"`
	State string `json:"state"`
	Done  int    `json:"done"`
	Total int    `json:"total"`
}

// waitProgress follows the progress a waited-for job reports
// (job.Progress), as the runner keeps it on asynq's hash of the task: with
// --output json it prints one object per change; in text, when stderr is a
// terminal, it draws a bar there. Otherwise it is nil, and a nil
// *waitProgress does nothing, so the wait reads nothing.
type waitProgress struct {
	c           *cli
	id, queue   string
	bar         *rateBar // text on a terminal; nil for JSON
	seen        bool
	done, total int
}

func (c *cli) newWaitProgress(info *asynq.TaskInfo) *waitProgress {
	p := &waitProgress{c: c, id: info.ID, queue: info.Queue}
	switch {
	case c.f.output == "json":
	case c.cfg.isTerminal(c.stderr):
		p.bar = &rateBar{w: c.stderr, now: c.cfg.now}
	default:
		return nil
	}
	return p
}

// poll reads the job's progress (one HGET, bounded by the dial timeout) and
// shows it if it changed since the last poll; a failed read shows nothing.
func (p *waitProgress) poll(ctx context.Context, rdb redis.UniversalClient, state asynq.TaskState) {
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.c.cfg.DialTimeout)
	defer cancel()
	done, total, ok, err := asynqdb.Progress(ctx, rdb, p.queue, p.id)
	if err != nil || !ok || (p.seen && done == p.done && total == p.total) {
		return
	}
	p.seen, p.done, p.total = true, done, total
	if p.bar != nil {
		p.bar.update(done, total)
		return
	}
	p.c.printJSON(progressJSON{ID: p.id, Queue: p.queue, State: state.String(), Done: done, Total: total})
}

// breakLine ends the bar's line before the wait prints a line of its own.
func (p *waitProgress) breakLine() {
	if p != nil && p.bar != nil {
		p.bar.breakLine()
	}
}
