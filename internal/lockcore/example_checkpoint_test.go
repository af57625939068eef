package lockcore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// A checkpoint is saved beside the marker that fences it: a redelivery that
// takes the marker over resumes from it, and the attempt it replaced can no
// longer write it.
func Example_checkpoint() {
	ctx := context.Background()
	store := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
	req := lockcore.AdmitRequest{DedupeKey: "export:acct-42", TaskID: "task-1"}

	first, _ := store.Admit(ctx, req)
	_ = store.SaveCheckpoint(ctx, lockcore.Checkpoint{Lease: first.Marker}, []byte(`{"after":"row-500"}`), 0)

	// The worker stalls; the queue redelivers the task to another worker.
	second, _ := store.Admit(ctx, req)
	place, ok, _ := store.LoadCheckpoint(ctx, lockcore.Checkpoint{Lease: second.Marker}, 0)
	fmt.Println(second.Verdict, "resumes from", string(place), ok)

	err := store.SaveCheckpoint(ctx, lockcore.Checkpoint{Lease: first.Marker}, []byte(`{"after":"row-600"}`), 0)
	fmt.Println("the stalled attempt's save:", errors.Is(err, lockcore.ErrLockLost))

	c := lockcore.Checkpoint{Lease: second.Marker}
	_, _ = store.Complete(ctx, lockcore.CompleteRequest{Marker: second.Marker, Checkpoint: &c})
	fmt.Println("completed; the checkpoint goes with it")
	// Output:
	// taken_over resumes from {"after":"row-500"} true
	// the stalled attempt's save: true
	// completed; the checkpoint goes with it
}
