package lockcore_test

import (
	"context"
	"fmt"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

func Example_dedupe() {
	ctx := context.Background()
	store := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
	req := lockcore.AdmitRequest{DedupeKey: "email:welcome:42", TaskID: "task-1", LockKey: "account:42"}

	first, _ := store.Admit(ctx, req)
	fmt.Println("task-1:", first.Verdict, "fence", first.Lock.Fence())

	dup := req
	dup.TaskID, dup.LockWait = "task-2", -1
	second, _ := store.Admit(ctx, dup)
	fmt.Println("task-2:", second.Verdict, "held by", second.Holder)

	c, _ := store.Complete(ctx, lockcore.CompleteRequest{
		Marker: first.Marker, Lock: first.Lock, Result: []byte("msg-id-9"),
	})
	fmt.Println("complete:", c.Marker, c.Lock)

	again, _ := store.Admit(ctx, dup)
	fmt.Printf("task-2 again: %v, result %q\n", again.Verdict, again.Result)
	// Output:
	// task-1: admitted fence 1
	// task-2: in_flight_elsewhere held by task-1
	// complete: released released
	// task-2 again: done, result "msg-id-9"
}

func Example_retryAfterFailure() {
	ctx := context.Background()
	store := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
	req := lockcore.AdmitRequest{DedupeKey: "import:2026-01", TaskID: "task-7"}

	a, _ := store.Admit(ctx, req)
	// The handler failed: clear the marker only; no completed record.
	_, _ = store.Abandon(ctx, a.Marker, nil)

	retry, _ := store.Admit(ctx, req)
	fmt.Println("retry:", retry.Verdict)

	// The worker crashes mid-job; the queue redelivers the same task.
	redelivery, _ := store.Admit(ctx, req)
	fmt.Println("redelivery:", redelivery.Verdict)
	// Output:
	// retry: admitted
	// redelivery: taken_over
}
