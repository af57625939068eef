package job_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobrunner/jobrunner/job"
)

type Invoice struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

var errDeclined = errors.New("card declined")

// A handler needs package job only: it says how an attempt ended with the
// errors job makes, and reaches its attempt (fence, result, dependencies,
// drain) through the context the runner gives it.
func Example_handler() {
	charge := func(ctx context.Context, inv Invoice) error {
		if inv.Amount <= 0 {
			return job.Permanent(fmt.Errorf("invoice %s: amount %d", inv.ID, inv.Amount)) // archived now
		}
		fence, locked := job.Fence(ctx) // write with it: ... WHERE fence < $fence
		err := job.Call(ctx, "payment-api", func(ctx context.Context) error {
			return errDeclined // recorded against payment-api's breaker
		})
		switch {
		case errors.Is(err, errDeclined):
			return job.RetryAfter(err, time.Hour) // the retry waits the callee's hint
		case err != nil:
			return err // retried after the job's backoff
		}
		_ = fence
		_ = locked
		return job.WriteResult(ctx, []byte("paid"))
	}
	def := &job.Definition[Invoice]{
		Type:      "invoice.charge",
		Handle:    charge,
		DedupeKey: func(inv Invoice) string { return inv.ID },
		Lock:      func(inv Invoice) job.Lock { return job.Lock{Key: "invoice:" + inv.ID} },
	}
	p, err := def.Prepare([]byte(`{"id":"in_1","amount":4200}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(p.DedupeKey, p.Lock.Key)
	// Outside a job the functions do nothing harmful: no fence, no breaker.
	fmt.Println(p.Run(context.Background()))
	// Output:
	// in_1 invoice:in_1
	// card declined
}
