package lockcore_test

import (
	"bytes"
	"context"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// BenchmarkRecordLayout measures the Redis memory of b.N completed
// records in candidate layouts, written directly (not through the store):
// the floor each layout allows, for the choice of issue 31's compact
// records. Layouts:
//
//   - string: today's, one string key per record with its TTL
//     (jobrunner:{TYPE:KEY}:inflight = "\x01" + result);
//
//   - hash: records as fields of hashes bucketed by a CRC-32 of the key,
//     about perBucket fields each (listpack-encoded under Redis's
//     default hash-max-listpack-entries 128), the field the full key,
//     the value the expiry in Unix ms, the bucket expiring with its
//     latest field;
//
//   - hash+result: the same with a 100-byte result appended to the value,
//     which passes hash-max-listpack-value (64) and turns the bucket
//     into a hashtable;
//
//   - hash+string-result: the expiry in the bucket, the 100-byte result in
//     a string key of its own with the window as TTL;
//
//   - hash-1000: as hash with about 1,000 fields per bucket, past
//     hash-max-listpack-entries: what buckets too few for the records cost
//     (hashtable-encoded).
//
//     go test -run '^$' -bench RecordLayout -benchtime 100000x ./internal/lockcore/
func BenchmarkRecordLayout(b *testing.B) {
	result := bytes.Repeat([]byte("r"), 100)
	for _, layout := range []string{"string", "string+result", "hash", "hash+result", "hash+string-result", "hash-1000"} {
		b.Run("layout="+layout, func(b *testing.B) {
			srv := redistest.Start(b)
			c := srv.Client()
			ctx := context.Background()
			const window, perBucket = 24 * time.Hour, 100
			buckets := max(b.N/perBucket, 1)
			if layout == "hash-1000" {
				buckets = max(b.N/1000, 1)
			}
			expiry := strconv.FormatInt(1_900_000_000_000, 10)
			used0 := usedMemory(b, c)
			for first := 0; first < b.N; first += 1000 {
				_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i := first; i < min(first+1000, b.N); i++ {
						key := "bench.noop:bench:" + strconv.Itoa(i)
						bucket := "jobrunner:{d:" + strconv.Itoa(int(crc32.ChecksumIEEE([]byte(key)))%buckets) + "}:done"
						switch layout {
						case "string":
							p.Set(ctx, "jobrunner:{"+key+"}:inflight", "\x01", 0)
							p.PExpire(ctx, "jobrunner:{"+key+"}:inflight", window)
						case "string+result":
							p.Set(ctx, "jobrunner:{"+key+"}:inflight", "\x01"+string(result), 0)
							p.PExpire(ctx, "jobrunner:{"+key+"}:inflight", window)
						case "hash", "hash-1000":
							p.HSet(ctx, bucket, key, expiry)
							p.PExpire(ctx, bucket, window)
						case "hash+result":
							p.HSet(ctx, bucket, key, expiry+":"+string(result))
							p.PExpire(ctx, bucket, window)
						case "hash+string-result":
							p.HSet(ctx, bucket, key, expiry)
							p.PExpire(ctx, bucket, window)
							p.Set(ctx, "jobrunner:{"+key+"}:result", result, 0)
							p.PExpire(ctx, "jobrunner:{"+key+"}:result", window)
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			used1 := usedMemory(b, c)
			keys, _ := c.DBSize(ctx).Result()
			b.ReportMetric(float64(used1-used0)/float64(b.N), "B/record")
			b.ReportMetric(float64(keys), "keys")
			if strings.HasPrefix(layout, "hash") {
				enc, _ := c.ObjectEncoding(ctx, "jobrunner:{d:0}:done").Result()
				b.Logf("%s: %d buckets, encoding %s", layout, buckets, enc)
			}
		})
	}
}

func usedMemory(b *testing.B, c *redis.Client) int64 {
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("INFO memory has no used_memory")
	return 0
}
