package enqueue

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// IdempotencyKeyPrefix starts the Redis key of every idempotency record,
// beside the project's other keys (jobrunner:...). The rest is the hex
// SHA-256 of the caller's scope and the Idempotency-Key header.
const IdempotencyKeyPrefix = "jobrunner:idempotency:"

// IdempotencyTTLDefault is how long the answer to a request with an
// Idempotency-Key is kept and replayed to its retries: 24h, as Stripe
// keeps them.
const IdempotencyTTLDefault = 24 * time.Hour

// maxIdempotencyKeyLen is the longest Idempotency-Key accepted (Stripe's).
const maxIdempotencyKeyLen = 255

// States of an idempotency record.
const (
	idemPending = "pending" // claimed by a request still running
	idemDone    = "done"    // holds the request's answer
)

var (
	//go:embed lua/idem_begin.lua
	idemBeginLua    string
	idemBeginScript = redis.NewScript(idemBeginLua)

	//go:embed lua/idem_finish.lua
	idemFinishLua    string
	idemFinishScript = redis.NewScript(idemFinishLua)

	//go:embed lua/idem_release.lua
	idemReleaseLua    string
	idemReleaseScript = redis.NewScript(idemReleaseLua)
)

// idemRecord is what a key's record holds.
type idemRecord struct {
	state    string
	fp       string
	status   int
	body     []byte
	location string
}

// idemKey is one Idempotency-Key of one caller.
type idemKey struct {
	redisKey string
	scope    string // the caller
	key      string // the header's value
	fp       string // the request's fingerprint
	owner    string // random: this request's claim
}

// newIdemKey returns the key of header value key for the caller scope and
// a request of fingerprint fp.
func newIdemKey(scope, key, fp string) idemKey {
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	var owner [16]byte
	_, _ = rand.Read(owner[:]) // never fails (crypto/rand)
	return idemKey{redisKey: IdempotencyKeyPrefix + hex.EncodeToString(sum[:]), scope: scope, key: key, fp: fp,
		owner: hex.EncodeToString(owner[:])}
}

// checkIdempotencyKey reports a header value the API refuses: empty, over
// 255 characters, or with characters outside printable ASCII.
func checkIdempotencyKey(k string) error {
	switch {
	case k == "":
		return errors.New("Idempotency-Key is empty")
	case len(k) > maxIdempotencyKeyLen:
		return fmt.Errorf("Idempotency-Key is %d characters; at most %d", len(k), maxIdempotencyKeyLen)
	}
	for _, r := range k {
		if r < ' ' || r > '~' {
			return errors.New("Idempotency-Key has a character outside printable ASCII")
		}
	}
	return nil
}

// fingerprint identifies a request for its idempotency key: a reuse of the
// key for another request (another body, path or query) is refused.
func fingerprint(method, path, query string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s?%s\n", method, path, query)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// taskIDNamespace is the UUID namespace of the task IDs derived from
// idempotency keys.
var taskIDNamespace = uuid.MustParse("5c2f3d4e-8b1a-4f6e-9d7c-3a2b1c0d9e8f")

// taskID returns the task ID of the request's nth task (0 for a single
// job, the line number in a bulk request) when the request does not name
// one: a UUID derived from the caller, the key and the request, so that a
// retry whose first attempt wrote the task (and died before storing its
// answer) finds it instead of enqueueing a copy.
func (k idemKey) taskID(n int) string {
	return uuid.NewSHA1(taskIDNamespace, []byte(k.scope+"\x00"+k.key+"\x00"+k.fp+"\x00"+strconv.Itoa(n))).String()
}

// idemStore keeps idempotency records in Redis.
type idemStore struct {
	rdb redis.UniversalClient
	ttl time.Duration // of an answer
}

// begin claims k for pendingTTL, or returns the record already there.
func (s *idemStore) begin(ctx context.Context, k idemKey, pendingTTL time.Duration) (*idemRecord, error) {
	vals, err := idemBeginScript.Run(ctx, s.rdb, []string{k.redisKey}, k.fp, k.owner, pendingTTL.Milliseconds()).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return recordOf(vals)
}

// get returns the record of k, or nil when there is none.
func (s *idemStore) get(ctx context.Context, k idemKey) (*idemRecord, error) {
	vals, err := s.rdb.HMGet(ctx, k.redisKey, "state", "fp", "status", "body", "location").Result()
	if err != nil {
		return nil, err
	}
	if vals[0] == nil {
		return nil, nil
	}
	return recordOf(vals)
}

func recordOf(vals []any) (*idemRecord, error) {
	if len(vals) != 5 {
		return nil, errors.New("idempotency record: unexpected reply")
	}
	str := func(v any) string { s, _ := v.(string); return s }
	r := &idemRecord{state: str(vals[0]), fp: str(vals[1]), body: []byte(str(vals[3])), location: str(vals[4])}
	r.status, _ = strconv.Atoi(str(vals[2]))
	return r, nil
}

// finish stores the answer of the request that claimed k.
func (s *idemStore) finish(ctx context.Context, k idemKey, status int, body []byte, location string) error {
	return idemFinishScript.Run(ctx, s.rdb, []string{k.redisKey}, k.owner, status, body, location, s.ttl.Milliseconds()).Err()
}

// release gives up the claim on k.
func (s *idemStore) release(ctx context.Context, k idemKey) error {
	return idemReleaseScript.Run(ctx, s.rdb, []string{k.redisKey}, k.owner).Err()
}
