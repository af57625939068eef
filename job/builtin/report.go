package builtin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jobrunner/jobrunner/job"
)

// ReportType is the task type of the built-in batch callback.
const ReportType = "batch.report"

// ReportPayload is batch.report's payload.
type ReportPayload struct {
	// Note is copied into the log line and the result, to tell batches
	// apart. Optional.
	Note string `json:"note,omitempty"`
}

// Report is the result batch.report writes (the task's result, which
// enqueue --wait prints) and logs.
type Report struct {
	Batch       string   `json:"batch"`
	Note        string   `json:"note,omitempty"`
	Total       int      `json:"total"`
	Succeeded   int      `json:"succeeded"`
	Archived    int      `json:"archived"`
	ArchivedIDs []string `json:"archived_ids,omitempty"`
}

// BatchReport returns the batch.report definition: a batch's callback
// that logs the batch's outcome (event=batch.report) and writes it as the
// task's result. It runs once per callback task (deduplicated on the task
// ID); outside a batch's callback it is archived.
func BatchReport() *job.Definition[ReportPayload] {
	return &job.Definition[ReportPayload]{
		Type:      ReportType,
		Handle:    handleReport,
		DedupeKey: job.ByTaskID[ReportPayload],
	}
}

func handleReport(ctx context.Context, p ReportPayload) error {
	st, err := job.BatchOf(ctx)
	if err != nil {
		return job.Permanent(fmt.Errorf("batch.report: %w", err))
	}
	r := Report{Batch: st.ID, Note: p.Note, Total: st.Total, Succeeded: st.Succeeded, Archived: st.Archived,
		ArchivedIDs: st.ArchivedIDs}
	b, err := json.Marshal(r)
	if err != nil {
		return job.Permanent(err)
	}
	job.Log(ctx).Info().Str("event", "batch.report").Str("note", p.Note).Int("total", r.Total).
		Int("succeeded", r.Succeeded).Int("archived", r.Archived).Strs("archived_ids", r.ArchivedIDs[:min(len(r.ArchivedIDs), 20)]).
		Msg("batch finished")
	return job.WriteResult(ctx, b)
}
