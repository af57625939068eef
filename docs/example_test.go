package docs_test

// The Go code the pages show. Each region between "// snippet NAME" and
// "// end snippet" is shown by a page under <!-- snippet NAME -->, byte for
// byte (TestSnippetsMatchCode; go test ./docs -update rewrites the pages),
// so that the code a reader copies compiles against today's API.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
	"github.com/jobrunner/jobrunner/schedule"
	"github.com/jobrunner/jobrunner/setup"
)

// snippet define
type Invoice struct {
	ID     string `json:"id"`
	Amount int64  `json:"amount"`
}

// Validate is called after strict decoding; FieldError names the field.
func (p Invoice) Validate() error {
	if p.Amount <= 0 {
		return job.FieldError("amount", "must be positive, got %d", p.Amount)
	}
	return nil
}

var ChargeInvoice = &job.Definition[Invoice]{
	Type:     "invoice.charge", // fixed: renaming the Go type never orphans queued jobs
	Handle:   charge,           // func(ctx context.Context, p Invoice) error
	Queue:    "critical",       // default "default"
	Timeout:  time.Minute,      // per attempt; default 30m
	MaxRetry: 10,               // default 25; job.NoRetry for one attempt
	// Runs once per key: a duplicate is deferred while it runs, skipped after.
	DedupeKey: func(p Invoice) string { return p.ID },
	// Never two at once across replicas; job.Fence(ctx) gives the fencing token.
	Lock: func(p Invoice) job.Lock { return job.Lock{Key: "invoice:" + p.ID} },
	// A circuit breaker (and any dependency limit) per name.
	Dependencies: func(Invoice) []string { return []string{"payment-api"} },
}

func charge(ctx context.Context, p Invoice) error {
	return chargeCard(ctx, p.ID, p.Amount) // your code; an error is retried with backoff
}

// end snippet

// chargeCard stands for the call a handler makes.
func chargeCard(ctx context.Context, id string, amount int64) error { return ctx.Err() }

// snippet register
// runWorker runs the worker until ctx is cancelled, then drains.
func runWorker(ctx context.Context, log *zerolog.Logger) error {
	// setup.NewRedisClient makes a client that honours deadlines
	// (runner.New refuses a go-redis client without ContextTimeoutEnabled).
	opts, err := setup.ParseRedisURL(os.Getenv("REDIS_URL"))
	if err != nil {
		return err
	}
	rdb := setup.NewRedisClient(opts)
	defer rdb.Close()
	r, err := runner.New(runner.Config{Redis: rdb, Logger: log})
	if err != nil {
		return err
	}
	if err := r.Register(ChargeInvoice); err != nil {
		return err
	}
	return r.Run(ctx) // until ctx is cancelled, then drains
}

// end snippet

// snippet enqueue
// enqueueCharge is the producer side: the payload is validated before
// anything reaches Redis.
func enqueueCharge(ctx context.Context, rdb redis.UniversalClient) error {
	client := asynq.NewClientFromRedisClient(rdb) // shares rdb: close rdb, not client
	info, err := ChargeInvoice.Enqueue(ctx, client, Invoice{ID: "in_1", Amount: 4200})
	if err != nil {
		return err
	}
	fmt.Println("enqueued", info.ID)
	return nil
}

// end snippet

func Example_defineRegisterEnqueue() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := zerolog.New(os.Stdout)
	go func() { _ = runWorker(ctx, &log) }()
	_ = enqueueCharge(ctx, setup.NewRedisClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}}))
}

type tenantKey struct{}

func useMiddleware(r *runner.Runner) error {
	// snippet use
	err := r.Use(func(next runner.HandlerFunc) runner.HandlerFunc {
		return func(ctx context.Context, a *runner.Attempt) error {
			ctx = context.WithValue(ctx, tenantKey{}, a.Task.Headers()["tenant"])
			return next(ctx, a)
		}
	})
	// end snippet
	return err
}

func Example_use() { _ = useMiddleware(nil) }

func fencedWrite(ctx context.Context, db *sql.DB, id string, balance int64) error {
	// snippet fence
	fence, ok := job.Fence(ctx)
	if !ok {
		return errors.New("not running under a lock")
	}
	res, err := db.ExecContext(ctx,
		`UPDATE accounts SET balance = $1, fence = $2 WHERE id = $3 AND fence < $2`,
		balance, fence, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// A newer holder has written: this holder's lease expired. Do not retry blindly.
		return job.Permanent(errors.New("stale fence: lock lost to a newer holder"))
	}
	// end snippet
	return nil
}

func Example_fence() { _ = fencedWrite(context.Background(), nil, "acct_1", 100) }

func sanitizer(rdb redis.UniversalClient, dbPassword string) (*runner.Runner, error) {
	// snippet sanitize
	san := job.NewSanitizer(job.SanitizerConfig{
		Secrets: []string{os.Getenv("PAYMENT_API_KEY"), dbPassword}, // blanked wherever they appear (4 bytes or more)
		Keys:    []string{"tenant_sig"},                             // tenant_sig=… is blanked too
		Patterns: []*regexp.Regexp{ // a match, or its groups
			regexp.MustCompile(`\bsk_live_\w+`),
			regexp.MustCompile(`acct_(\w+)`),
		},
	})
	r, err := runner.New(runner.Config{Redis: rdb, Sanitize: san.Sanitize})
	// or your own func(string) string, e.g. one that calls san.Sanitize and then more
	// end snippet
	return r, err
}

func Example_sanitize() { _, _ = sanitizer(nil, "") }

type Report struct {
	Kind string `json:"kind"`
}

var ReportNightly = &job.Definition[Report]{
	Type:   "report.nightly",
	Handle: func(ctx context.Context, p Report) error { return nil },
}

func nightly(r *runner.Runner) error {
	// snippet schedule
	s, err := schedule.For(ReportNightly, "CRON_TZ=Europe/Paris 0 3 * * *", Report{Kind: "sales"})
	if err != nil {
		return err
	}
	s.CatchUp = 1      // after an outage, run the last missed night once
	s.NoOverlap = true // never two reports at once
	// The payload is validated by the definition now, not at 3 a.m.
	err = r.Schedule(s)
	// end snippet
	return err
}

func Example_schedule() { _ = nightly(nil) }
