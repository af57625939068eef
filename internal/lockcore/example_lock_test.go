package lockcore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

func Example_renewer() {
	ctx := context.Background()
	store := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
	renewer := lockcore.NewRenewer(lockcore.RenewerConfig{})
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
