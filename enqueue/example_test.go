package enqueue_test

import (
	"context"
	"fmt"
	"os"

	"github.com/jobrunner/jobrunner/enqueue"
	"github.com/jobrunner/jobrunner/job"
)

// Invoice is the payload of a user's own job type.
type Invoice struct {
	ID     int    `json:"id"`
	Email  string `json:"email"`
	Amount int    `json:"amount_cents"`
}

func (p Invoice) Validate() error {
	if p.ID <= 0 {
		return job.FieldError("id", "must be positive, got %d", p.ID)
	}
	return nil
}

var SendInvoice = &job.Definition[Invoice]{
	Type:     "invoice.send",
	Queue:    "billing",
	MaxRetry: 5,
	Handle:   func(ctx context.Context, p Invoice) error { return nil }, // the worker's real handler
}

// An enqueue binary for your own job types is a registry and one call;
// this is its whole main. The CLI refuses a payload the job's decoder
// refuses, before it connects to Redis.
func Example() {
	reg := job.NewRegistry()
	if err := reg.Register(SendInvoice); err != nil {
		panic(err)
	}
	cfg := enqueue.Config{Registry: reg, Name: "billing-enqueue"}
	run := func(args ...string) {
		code := enqueue.Main(context.Background(), cfg, args, os.Stdin, os.Stdout, os.Stdout, os.Getenv)
		fmt.Println("exit", code)
	}
	run("--dry-run", "invoice.send", `{"id": 7, "email": "a@example.com", "amount_cents": 1200}`, "--unique", "24h")
	run("invoice.send", `{"id": 7, "emial": "a@example.com"}`)
	run("invoice.send", `{"id": 0}`)
	// Output:
	// dry run: would enqueue invoice.send on queue billing: max retry 5, timeout 30m0s, unique 24h0m0s
	// payload: {"id": 7, "email": "a@example.com", "amount_cents": 1200}
	// exit 0
	// billing-enqueue: job invoice.send: invalid payload: field "emial": unknown field
	// exit 2
	// billing-enqueue: job invoice.send: invalid payload: field "id": must be positive, got 0
	// exit 2
}
