package docs_test

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/job"
)

type Export struct {
	Account string `json:"account"`
}

type DayDone struct {
	Day string `json:"day"`
}

var ExportAccount = &job.Definition[Export]{
	Type:      "account.export",
	Handle:    func(ctx context.Context, p Export) error { return nil },
	DedupeKey: func(p Export) string { return "export:" + p.Account },
}

// snippet batch-producer
// exportAll exports every account, then runs exports.done once, when
// every export has finished.
func exportAll(ctx context.Context, rdb redis.UniversalClient, accounts []string) (string, error) {
	cb, err := job.OnComplete(ExportsDone, DayDone{Day: "2026-12-07"})
	if err != nil {
		return "", err // the callback's payload is validated first
	}
	b, err := job.NewBatch(ctx, rdb, job.BatchOptions{OnComplete: cb})
	if err != nil {
		return "", err
	}
	for _, a := range accounts { // in as many calls, from as many places, as needed
		if _, err := ExportAccount.EnqueueIn(ctx, b, Export{Account: a}); err != nil {
			return "", err
		}
	}
	// No job can be added after Close; the callback is enqueued once all
	// of them finished (at once if they already have, or if there are none).
	return b.ID(), b.Close(ctx)
}

// end snippet

// snippet batch-callback
var ExportsDone = &job.Definition[DayDone]{
	Type:      "exports.done",
	DedupeKey: job.ByTaskID[DayDone], // a redelivered callback is skipped
	Handle: func(ctx context.Context, p DayDone) error {
		st, err := job.BatchOf(ctx)
		if err != nil {
			return err
		}
		// st.Total == st.Succeeded + st.Archived: every job finished.
		return notify(ctx, fmt.Sprintf("%s: %d of %d exports done; failed: %v",
			p.Day, st.Succeeded, st.Total, st.ArchivedIDs))
	},
}

// end snippet

func notify(context.Context, string) error { return nil }

var _ = exportAll
