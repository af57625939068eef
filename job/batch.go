package job

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/batchdb"
	"github.com/jobrunner/jobrunner/internal/jobctx"
	"github.com/jobrunner/jobrunner/internal/tracectx"
)

// Batch defaults.
const (
	// BatchTTLDefault is how long a batch's state stays in Redis after
	// its last change, when BatchOptions.TTL is zero.
	BatchTTLDefault = batchdb.TTLDefault
	// BatchArchivedIDsMax bounds the archived task IDs a batch keeps.
	BatchArchivedIDsMax = batchdb.ArchivedIDsMax
)

// Errors of batches.
var (
	// ErrBatchNotFound: the batch was never opened, or its state expired.
	ErrBatchNotFound = batchdb.ErrNotFound
	// ErrBatchClosed: a job was added to a closed batch.
	ErrBatchClosed = batchdb.ErrClosed
	// ErrNotBatchCallback: BatchOf was called outside a batch's callback.
	ErrNotBatchCallback = errors.New("job: not running as a batch's callback")
)

// Callback is the job a batch enqueues once all of its jobs finished:
// build it with OnComplete or CallbackFor.
type Callback struct {
	typ     string
	payload []byte
	opts    Options
}

// OnComplete returns the callback that runs d with payload p. p is
// validated now, so a bad callback is refused before the batch exists.
func OnComplete[P any](d *Definition[P], p P) (Callback, error) {
	t, err := d.newTask(p, nil, nil)
	if err != nil {
		return Callback{}, err
	}
	return Callback{typ: d.Type, payload: t.Payload(), opts: d.Options()}, nil
}

// CallbackFor returns the callback that runs spec's job type with payload,
// decoded and validated now (errors are *PayloadError).
func CallbackFor(spec Spec, payload []byte) (Callback, error) {
	if _, err := spec.Prepare(payload); err != nil {
		return Callback{}, err
	}
	return Callback{typ: spec.TypeName(), payload: payload, opts: spec.Options()}, nil
}

// BatchOptions configure a batch.
type BatchOptions struct {
	// OnComplete is the job enqueued, exactly once, when the batch is
	// closed and every job in it finished for good: completed, skipped
	// as a duplicate, or archived. Required.
	OnComplete Callback
	// ID names the batch. Defaults to a random UUID.
	ID string
	// TTL is how long the batch's state stays in Redis after its last
	// change (a job added or finished). Defaults to BatchTTLDefault (7
	// days).
	TTL time.Duration
}

// Batch is a group of jobs with a callback that runs once all of them
// finished. Add jobs with Definition.EnqueueIn, in as many calls as
// needed, then Close it. A Batch is safe for concurrent use.
type Batch struct {
	id     string
	rdb    redis.UniversalClient
	client *asynq.Client
}

// NewBatch opens a batch in Redis. rdb is shared, not closed by the batch.
func NewBatch(ctx context.Context, rdb redis.UniversalClient, opts BatchOptions) (*Batch, error) {
	if opts.OnComplete.typ == "" {
		return nil, errors.New("job: NewBatch: OnComplete is required")
	}
	if opts.TTL < 0 {
		return nil, fmt.Errorf("job: NewBatch: TTL %v is negative", opts.TTL)
	}
	id := opts.ID
	if id == "" {
		id = uuid.NewString()
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = BatchTTLDefault
	}
	o := opts.OnComplete.opts
	cb := batchdb.Callback{Type: opts.OnComplete.typ, Payload: opts.OnComplete.payload, Queue: o.Queue,
		Timeout: o.Timeout, MaxRetry: o.MaxRetry}
	if err := batchdb.Open(ctx, rdb, id, ttl, cb, time.Now()); err != nil {
		return nil, fmt.Errorf("job: batch %s: %w", id, err)
	}
	return OpenBatch(rdb, id), nil
}

// OpenBatch returns the batch id opened elsewhere (by NewBatch in another
// process), to add jobs to it or close it.
func OpenBatch(rdb redis.UniversalClient, id string) *Batch {
	return &Batch{id: id, rdb: rdb, client: asynq.NewClientFromRedisClient(rdb)}
}

// ID returns the batch's ID.
func (b *Batch) ID() string { return b.id }

// EnqueueIn validates p and enqueues it through b, as a member of b. The
// job is registered in the batch before it is enqueued, so the batch never
// finishes without it. A task ID given in opts (asynq.TaskID) is the
// member's ID; an ID taken by another task is refused
// (asynq.ErrTaskIDConflict) and not added, while a repeated call with the
// same ID after an unknown outcome finds its task and succeeds. After any
// other error the job may or may not be enqueued: call again with the
// same asynq.TaskID, or the batch waits for the job until its TTL.
func (d *Definition[P]) EnqueueIn(ctx context.Context, b *Batch, p P, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	id := ""
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			id, _ = o.Value().(string)
		}
	}
	if id == "" {
		id = uuid.NewString()
		opts = append(opts, asynq.TaskID(id))
	}
	headers := tracectx.Inject(ctx, map[string]string{batchdb.HeaderBatch: b.id, batchdb.HeaderMember: id})
	t, err := d.newTask(p, headers, opts)
	if err != nil {
		return nil, err
	}
	if _, err := batchdb.Add(ctx, b.rdb, b.id, []string{id}); err != nil {
		return nil, fmt.Errorf("job %s: batch %s: %w", d.Type, b.id, err)
	}
	info, err := b.client.EnqueueContext(ctx, t)
	switch {
	case err == nil:
		return info, nil
	case errors.Is(err, asynq.ErrTaskIDConflict):
		queue := d.Options().Queue
		for _, o := range opts {
			if o.Type() == asynq.QueueOpt {
				queue, _ = o.Value().(string)
			}
		}
		if in, rerr := asynqdb.Read(ctx, b.rdb, queue, id); rerr == nil &&
			in.Headers[batchdb.HeaderBatch] == b.id && in.Headers[batchdb.HeaderMember] == id {
			return &asynq.TaskInfo{ID: id, Queue: queue, Type: d.Type, Payload: t.Payload(), Headers: in.Headers}, nil
		}
		fallthrough
	case errors.Is(err, asynq.ErrDuplicateTask):
		if _, rerr := batchdb.Remove(ctx, b.rdb, b.id, []string{id}); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return nil, fmt.Errorf("job %s: enqueue in batch %s: %w", d.Type, b.id, err)
}

// Close closes the batch: no job can be added after it, and the callback
// is enqueued once every job finished, at once when they all have (or the
// batch is empty). Closing a closed batch is harmless.
func (b *Batch) Close(ctx context.Context) error {
	d, err := batchdb.Close(ctx, b.rdb, b.id)
	if err == nil && d.Due {
		err = batchdb.EnqueueCallback(ctx, b.client, b.rdb, b.id, d, time.Now())
	}
	if err != nil {
		return fmt.Errorf("job: close batch %s: %w", b.id, err)
	}
	return nil
}

// Status returns the batch's state.
func (b *Batch) Status(ctx context.Context) (BatchStatus, error) { return ReadBatch(ctx, b.rdb, b.id) }

// BatchStatus is a batch's state.
type BatchStatus struct {
	ID string
	// Total is how many jobs the batch has; Done how many of them
	// finished for good: Succeeded (completed, or skipped as a duplicate
	// of a job that completed) plus Archived.
	Total, Done, Succeeded, Archived int
	// Closed is set once the batch takes no more jobs; Finished once its
	// callback is enqueued.
	Closed, Finished bool
	// ArchivedIDs are the task IDs of the archived jobs (for a copy the
	// runner re-enqueued, the copy's), at most BatchArchivedIDsMax.
	ArchivedIDs []string
	// Created is when the batch was opened, FinishedAt when its callback
	// was enqueued.
	Created, FinishedAt time.Time
	// Callback is the callback's job type.
	Callback string
}

// ReadBatch returns the state of batch id.
func ReadBatch(ctx context.Context, rdb redis.UniversalClient, id string) (BatchStatus, error) {
	s, err := batchdb.Read(ctx, rdb, id)
	if err != nil {
		return BatchStatus{}, fmt.Errorf("job: batch %s: %w", id, err)
	}
	return statusOf(s), nil
}

// BatchOf returns, inside a batch's callback, the batch's state: its ID,
// counts and archived task IDs. Elsewhere it returns ErrNotBatchCallback.
func BatchOf(ctx context.Context) (BatchStatus, error) {
	read := jobctx.Batch(ctx)
	if read == nil {
		return BatchStatus{}, ErrNotBatchCallback
	}
	s, err := read(ctx)
	if err != nil {
		return BatchStatus{}, fmt.Errorf("job: BatchOf: %w", err)
	}
	return statusOf(s), nil
}

func statusOf(s batchdb.Status) BatchStatus {
	return BatchStatus{ID: s.ID, Total: s.Total, Done: s.Done, Succeeded: s.Succeeded, Archived: s.Archived,
		Closed: s.Closed, Finished: s.Finished, ArchivedIDs: s.ArchivedIDs, Created: s.Created,
		FinishedAt: s.FinishedAt, Callback: s.CallbackType}
}
