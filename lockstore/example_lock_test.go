package lockstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobrunner/jobrunner/lockstore"
)

func Example_lock() {
	ctx := context.Background()
	store := lockstore.NewMemoryStore(lockstore.MemoryConfig{})

	lease, err := store.Acquire(ctx, "invoice:123", 30*time.Second, 10*time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println("fence:", lease.Fence())

	// A second owner gives up after its (negative: single-attempt) wait.
	_, err = store.Acquire(ctx, "invoice:123", 0, -1)
	fmt.Println("busy:", errors.Is(err, lockstore.ErrNotObtained))

	res, _ := lease.Release(context.WithoutCancel(ctx))
	fmt.Println("release:", res)

	next, _ := store.Acquire(ctx, "invoice:123", 0, 0)
	fmt.Println("next fence:", next.Fence())
	// Output:
	// fence: 1
	// busy: true
	// release: released
	// next fence: 2
}

func Example_renewer() {
	ctx := context.Background()
	store := lockstore.NewMemoryStore(lockstore.MemoryConfig{})
	renewer := lockstore.NewRenewer(lockstore.RenewerConfig{})
	renewer.Start()
	defer renewer.Shutdown()

	lease, _ := store.Acquire(ctx, "report", 300*time.Millisecond, 0)
	job, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	untrack := renewer.Track(func(err error) { cancel(err) }, lease)

	time.Sleep(700 * time.Millisecond) // longer than the TTL: renewed meanwhile
	fmt.Println("held:", job.Err() == nil)

	untrack()
	res, _ := lease.Release(ctx)
	fmt.Println("release:", res)
	// Output:
	// held: true
	// release: released
}
