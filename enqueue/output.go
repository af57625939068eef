package enqueue

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

const timeFormat = time.RFC3339

// taskJSON is a task as --output json prints it.
type taskJSON struct {
	ID            string          `json:"id,omitempty"`
	Type          string          `json:"type"`
	Queue         string          `json:"queue"`
	State         string          `json:"state"`
	Payload       json.RawMessage `json:"payload"`
	MaxRetry      int             `json:"max_retry"`
	Retried       int             `json:"retried"`
	Timeout       string          `json:"timeout,omitempty"`
	Deadline      string          `json:"deadline,omitempty"`
	NextProcessAt string          `json:"next_process_at,omitempty"`
	Unique        string          `json:"unique,omitempty"`
	Retention     string          `json:"retention,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	LastFailedAt  string          `json:"last_failed_at,omitempty"`
	CompletedAt   string          `json:"completed_at,omitempty"`
	Result        *string         `json:"result,omitempty"`
	Skipped       string          `json:"skipped,omitempty"` // --wait: why a completed task did not run (duplicate_done)
	DryRun        bool            `json:"dry_run,omitempty"`
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(timeFormat)
}

func formatDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// rawJSON returns b as a JSON value: itself when valid, else a string.
func rawJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

func taskJSONOf(info *asynq.TaskInfo) taskJSON {
	j := taskJSON{
		ID: info.ID, Type: info.Type, Queue: info.Queue, State: info.State.String(),
		Payload: rawJSON(info.Payload), MaxRetry: info.MaxRetry, Retried: info.Retried,
		Timeout: formatDuration(info.Timeout), Deadline: formatTime(info.Deadline),
		NextProcessAt: formatTime(info.NextProcessAt), Retention: formatDuration(info.Retention),
		LastError: info.LastErr, LastFailedAt: formatTime(info.LastFailedAt),
		CompletedAt: formatTime(info.CompletedAt),
	}
	if info.State == asynq.TaskStateCompleted {
		r := string(info.Result)
		j.Result = &r
	}
	return j
}

// taskJSONOfTask describes a task that --dry-run would enqueue.
func taskJSONOfTask(t task, now time.Time) taskJSON {
	state, next := "pending", now
	if t.ProcessAt.After(now) {
		state, next = "scheduled", t.ProcessAt
	}
	return taskJSON{
		ID: t.TaskID, Type: t.Type, Queue: t.Queue, State: state, Payload: rawJSON(t.Payload),
		MaxRetry: t.MaxRetry, Timeout: formatDuration(t.Timeout), Deadline: formatTime(t.Deadline),
		NextProcessAt: formatTime(next), Unique: formatDuration(t.Unique),
		Retention: formatDuration(t.Retention), DryRun: true,
	}
}

// describe lists t's options for text output.
func (t task) describe() string {
	parts := []string{fmt.Sprintf("max retry %d", t.MaxRetry)}
	if t.Timeout > 0 {
		parts = append(parts, "timeout "+t.Timeout.String())
	}
	if !t.Deadline.IsZero() {
		parts = append(parts, "deadline "+formatTime(t.Deadline))
	}
	if !t.ProcessAt.IsZero() {
		parts = append(parts, "process at "+formatTime(t.ProcessAt))
	}
	if t.Unique > 0 {
		parts = append(parts, "unique "+t.Unique.String())
	}
	if t.TaskID != "" {
		parts = append(parts, fmt.Sprintf("task ID %q", t.TaskID))
	}
	if t.Retention > 0 {
		parts = append(parts, "retention "+t.Retention.String())
	}
	return strings.Join(parts, ", ")
}
