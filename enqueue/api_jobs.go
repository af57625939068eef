package enqueue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/tracectx"
)

// enqueued is the answer to POST /v1/jobs.
type enqueued struct {
	TaskID string `json:"task_id"`
	Queue  string `json:"queue"`
	State  string `json:"state"`
}

// jobJSON is the answer to GET /v1/jobs/{queue}/{task_id}: what --wait
// --output json prints, and the attempts made so far.
type jobJSON struct {
	taskJSON
	Attempts int `json:"attempts"`
}

// taskPath is the API path of a task, its Location.
func taskPath(queue, id string) string {
	return "/v1/jobs/" + url.PathEscape(queue) + "/" + url.PathEscape(id)
}

func (a *api) validator() validator {
	return validator{reg: a.cfg.Registry, check: a.cfg.Check, allowUnknown: a.set.allowUnknown, maxPayload: a.set.maxPayload, now: a.cfg.now()}
}

// postJob enqueues one job: {"type", "payload", "options"}, one line of
// the CLI's bulk format.
func (a *api) postJob(w http.ResponseWriter, r *http.Request, caller string) {
	body, p := readBody(w, r, int64(a.set.maxPayload+lineOverhead))
	if p != nil {
		writeProblem(w, p)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.set.requestTimeout)
	defer cancel()
	a.idempotent(ctx, w, r, caller, body, a.set.requestTimeout, func(ctx context.Context, k *idemKey) reply {
		return a.enqueueOne(ctx, r, body, k)
	})
}

func (a *api) enqueueOne(ctx context.Context, r *http.Request, body []byte, k *idemKey) reply {
	typ, payload, opts, err := parseLine(body)
	switch {
	case err != nil && !json.Valid(body):
		return reply{problem: newProblem(http.StatusBadRequest, "malformed-json", err.Error())}
	case err != nil:
		return reply{problem: validationProblem(err)}
	}
	t, err := a.validator().newTask(ctx, typ, payload, opts)
	if err != nil {
		if ctx.Err() != nil { // Config.Check ran out of time
			return reply{err: err}
		}
		return reply{problem: validationProblem(err)}
	}
	derived := k != nil && t.TaskID == ""
	if derived {
		t.TaskID = k.taskID(0)
	}
	ctx, span, headers := producerSpan(traceContext(ctx, r), a.tracer, "enqueue "+t.Type,
		tracectx.AttrType.String(t.Type), tracectx.AttrDestination.String(t.Queue))
	t.Headers = headers
	info, err := a.client.EnqueueContext(ctx, asynq.NewTaskWithHeaders(t.Type, t.Payload, t.Headers), t.asynqOptions()...)
	endEnqueue(span, info, err)
	conflict := errors.Is(err, asynq.ErrDuplicateTask) || errors.Is(err, asynq.ErrTaskIDConflict)
	if conflict && derived {
		// An earlier attempt under this key wrote the task and did not
		// store its answer (it failed, or the server died, in between).
		in, rerr := readTaskInfo(ctx, a.rdb, t.Queue, t.TaskID, a.cfg.now())
		switch {
		case rerr == nil:
			return reply{status: http.StatusOK, body: enqueued{in.ID, in.Queue, in.State.String()},
				location: taskPath(in.Queue, in.ID), replayed: true}
		case !errors.Is(rerr, asynqdb.ErrNotFound):
			return reply{err: rerr}
		}
	}
	switch {
	case errors.Is(err, asynq.ErrDuplicateTask):
		p := newProblem(http.StatusConflict, "duplicate-task",
			fmt.Sprintf("duplicate: a %s task with the same payload is already on queue %q (options.unique %v)", t.Type, t.Queue, t.Unique))
		p.Queue = t.Queue
		return reply{problem: p}
	case errors.Is(err, asynq.ErrTaskIDConflict):
		p := newProblem(http.StatusConflict, "task-exists", fmt.Sprintf("conflict: task ID %q already exists on queue %q", t.TaskID, t.Queue))
		p.TaskID, p.Queue = t.TaskID, t.Queue
		return reply{problem: p}
	case err != nil:
		return reply{err: err}
	}
	return reply{status: http.StatusCreated, body: enqueued{info.ID, info.Queue, info.State.String()}, location: taskPath(info.Queue, info.ID)}
}

// postBulk enqueues many jobs: a JSON array of line objects, or JSON Lines.
// It answers the CLI's bulk report (--output json) and the tasks written.
func (a *api) postBulk(w http.ResponseWriter, r *http.Request, caller string) {
	body, p := readBody(w, r, a.set.maxBody)
	if p != nil {
		writeProblem(w, p)
		return
	}
	failFast := false
	if v := r.URL.Query().Get("fail_fast"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			p := newProblem(http.StatusUnprocessableEntity, "invalid-request", fmt.Sprintf("fail_fast=%q: want true or false", v))
			p.Field = "fail_fast"
			writeProblem(w, p)
			return
		}
		failFast = b
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.set.bulkTimeout)
	defer cancel()
	entries, p := a.bulkEntries(ctx, body)
	if p != nil {
		writeProblem(w, p)
		return
	}
	a.idempotent(ctx, w, r, caller, body, a.set.bulkTimeout, func(ctx context.Context, k *idemKey) reply {
		return a.enqueueMany(ctx, r, entries, failFast, k)
	})
}

// bulkEntries splits a bulk body into its jobs: the elements of a JSON
// array (numbered from 1), or the non-blank lines of JSON Lines.
func (a *api) bulkEntries(ctx context.Context, body []byte) ([]lineEntry, *problem) {
	maxLine := a.set.maxPayload + lineOverhead
	var entries []lineEntry
	if trimmed := bytes.TrimSpace(bytes.TrimPrefix(body, utf8BOM)); len(trimmed) > 0 && trimmed[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(trimmed, &elems); err != nil {
			return nil, newProblem(http.StatusBadRequest, "malformed-json", "the JSON array: "+err.Error())
		}
		entries = make([]lineEntry, len(elems))
		for i, e := range elems {
			entries[i] = lineEntry{n: i + 1, line: e}
			if len(e) > maxLine {
				entries[i] = lineEntry{n: i + 1, err: fmt.Errorf("element is longer than %d bytes (the payload limit plus %d for type and options)", maxLine, lineOverhead)}
			}
		}
	} else {
		var err error
		if entries, err = readLines(ctx, bytes.NewReader(body), maxLine); err != nil {
			return nil, newProblem(http.StatusBadRequest, "malformed-json", err.Error())
		}
	}
	if len(entries) > a.set.maxLines {
		return nil, newProblem(http.StatusRequestEntityTooLarge, "payload-too-large",
			fmt.Sprintf("%d jobs in one request; at most %d (--max-bulk-jobs)", len(entries), a.set.maxLines))
	}
	return entries, nil
}

func (a *api) enqueueMany(ctx context.Context, r *http.Request, entries []lineEntry, failFast bool, k *idemKey) reply {
	tasks, lines, invalid := checkLines(ctx, a.validator(), optionSet{}, entries, failFast)
	if ctx.Err() != nil {
		return reply{err: ctx.Err()}
	}
	if failFast && len(invalid) > 0 {
		p := newProblem(http.StatusUnprocessableEntity, "invalid-request",
			fmt.Sprintf("line %d: %s; nothing enqueued (fail_fast)", invalid[0].Line, invalid[0].Error))
		p.InvalidLines = invalid
		return reply{problem: p}
	}
	sum := bulkSummary{Valid: len(tasks), Invalid: len(invalid), InvalidLines: invalid}
	if len(tasks) == 0 {
		return reply{status: http.StatusOK, body: sum}
	}
	derived := make([]bool, len(tasks))
	for i := range tasks {
		switch {
		case tasks[i].TaskID != "":
		case k != nil:
			tasks[i].TaskID, derived[i] = k.taskID(lines[i]), true
		default:
			tasks[i].TaskID = uuid.NewString()
		}
	}
	ctx, span, headers := producerSpan(traceContext(ctx, r), a.tracer, "enqueue batch", batchAttrs(tasks)...)
	for i := range tasks {
		tasks[i].Headers = headers
	}
	bw := &bulkWriter{rdb: a.rdb, batch: a.cfg.BatchSize, now: a.cfg.now}
	outcomes, werr := bw.write(ctx, tasks, nil)
	mine, err := a.ownConflicts(ctx, tasks, derived, outcomes)
	if err != nil && werr == nil {
		werr = err
	}
	for i, o := range outcomes {
		switch {
		case o == wrote || mine[i]:
			sum.Enqueued++
			sum.Tasks = append(sum.Tasks, bulkTask{Line: lines[i], TaskID: tasks[i].TaskID, Queue: tasks[i].Queue})
		case o == idConflict || o == notUnique:
			sum.Duplicates++
			sum.DuplicateLines = append(sum.DuplicateLines, lines[i])
		default:
			sum.NotWritten++
		}
	}
	endSpan(span, werr, attrEnqueued.Int(sum.Enqueued), attrDuplicates.Int(sum.Duplicates))
	if werr != nil {
		p := unavailable()
		p.Detail = fmt.Sprintf("bulk enqueue stopped after %d of %d tasks; the report says which were written; "+
			"retry with the same Idempotency-Key to write the rest exactly once", sum.Enqueued+sum.Duplicates, len(tasks))
		p.Report = &sum
		return reply{problem: p, err: werr}
	}
	return reply{status: http.StatusOK, body: sum}
}

// ownConflicts reports which of the tasks refused as duplicates carry an
// ID derived from the request's Idempotency-Key and exist: an earlier
// attempt of this request wrote them, so they count as enqueued.
func (a *api) ownConflicts(ctx context.Context, tasks []task, derived []bool, outcomes []int) ([]bool, error) {
	mine := make([]bool, len(tasks))
	var idx []int
	pipe := a.rdb.Pipeline()
	var cmds []interface{ Val() int64 }
	for i, o := range outcomes {
		if derived[i] && (o == idConflict || o == notUnique) {
			idx = append(idx, i)
			cmds = append(cmds, pipe.Exists(ctx, asynqdb.TaskKey(tasks[i].Queue, tasks[i].TaskID)))
		}
	}
	if len(idx) == 0 {
		return mine, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return mine, err
	}
	for j, i := range idx {
		mine[i] = cmds[j].Val() == 1
	}
	return mine, nil
}

// getJob answers a task's state as --wait reads it: attempts, the last
// error (sanitized) and the result.
func (a *api) getJob(w http.ResponseWriter, r *http.Request, _ string) {
	ctx, cancel := context.WithTimeout(r.Context(), a.set.requestTimeout)
	defer cancel()
	queue, id := r.PathValue("queue"), r.PathValue("task_id")
	info, err := readTaskInfo(ctx, a.rdb, queue, id, a.cfg.now())
	switch {
	case errors.Is(err, asynqdb.ErrNotFound):
		p := newProblem(http.StatusNotFound, "task-not-found",
			fmt.Sprintf("no task %q on queue %q: never enqueued, deleted, or its retention expired", id, queue))
		p.TaskID, p.Queue = id, queue
		writeProblem(w, p)
		return
	case err != nil:
		a.write(w, r, reply{err: err})
		return
	}
	info.LastErr = a.cleanErr(info.LastErr)
	j := jobJSON{taskJSON: taskJSONOf(info), Attempts: attemptsOf(info)}
	if info.State == asynq.TaskStateCompleted {
		// A failed read counts as ran, as for --wait: the task completed.
		j.Skipped, _ = asynqdb.SkippedReason(ctx, a.rdb, queue, id)
	}
	writeJSON(w, http.StatusOK, "application/json", j)
}

// attemptsOf returns how many attempts the task has had: its failed ones,
// and the one that runs or ended it.
func attemptsOf(info *asynq.TaskInfo) int {
	switch info.State {
	case asynq.TaskStateActive, asynq.TaskStateCompleted, asynq.TaskStateArchived:
		return info.Retried + 1
	}
	return info.Retried
}
