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
//     (jobrunner:{TYPE:KEY}:inflight = "1", or "\x01" + the result);
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
							p.Set(ctx, "jobrunner:{"+key+"}:inflight", "1", 0)
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

// recordCostScripts are the commands a dedupe-only job sends in each
// candidate layout, run b.N times inside one script per chunk so that
// what is measured is the commands' own cost, not the script calls'
// (every layout makes one admission and one completion call). Keys and
// ARGV: ARGV[1] the first job number, ARGV[2] the count, ARGV[3] the
// buckets, ARGV[4] the record's expiry (Unix ms), ARGV[5] the record's
// TTL (ms) where the layout gives records one.
var recordCostScripts = map[string]string{
	// string: today. Admission SET NX GET of the state key, completion
	// SET GET turning the marker into the record, which Redis expires.
	"string": `
for i = tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1 do
  local k = 'jobrunner:{bench.noop:bench:' .. i .. '}:inflight'
  redis.call('SET', k, 'f3a9c2d1e0b7a6f5e4d3c2b1a0f9e8d7:task-' .. i, 'NX', 'PX', 60000, 'GET')
  redis.call('SET', k, '1', 'PX', ARGV[5], 'GET')
end
return 1`,
	// proto: the prototype measured through the store (bucket-proto):
	// HGET of the bucket at admission, then GETDEL of the marker, TIME,
	// HSET and PEXPIRE of the bucket at completion.
	"proto": bucketCostScript(`
  redis.call('TIME')
  redis.call('HSET', b, f, ARGV[4])
  redis.call('PEXPIRE', b, 86400000)`),
	// lean: as proto without TIME (the record's expiry from the caller's
	// estimate of server time) and without a PEXPIRE per record (the
	// bucket's TTL refreshed once per part of a window).
	"lean": bucketCostScript(`
  redis.call('HSET', b, f, ARGV[4])`),
	// marker-in-hash: the in-flight marker a field of the bucket too
	// (its deadline in its value), so no key is made or deleted per job:
	// HSETNX at admission, HGET and HSET at completion.
	"marker-in-hash": `
for i = tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1 do
  local f = 'bench.noop:bench:' .. i
  local b = 'jobrunner:{d:' .. (i % tonumber(ARGV[3])) .. '}:done'
  redis.call('HSETNX', b, f, '1900000000000:f3a9c2d1e0b7a6f5e4d3c2b1a0f9e8d7:task-' .. i)
  redis.call('HGET', b, f)
  redis.call('HSET', b, f, ARGV[4])
end
return 1`,
}

// bucketCostScript is the loop of a layout that keeps the marker in its
// string key and the record in a bucket: the admission's HGET and SET NX
// GET, the completion's GETDEL, then write, the record's writing.
func bucketCostScript(write string) string {
	return `
for i = tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1 do
  local f = 'bench.noop:bench:' .. i
  local k = 'jobrunner:{' .. f .. '}:inflight'
  local b = 'jobrunner:{d:' .. (i % tonumber(ARGV[3])) .. '}:done'
  redis.call('HGET', b, f)
  redis.call('SET', k, 'f3a9c2d1e0b7a6f5e4d3c2b1a0f9e8d7:task-' .. i, 'NX', 'PX', 60000, 'GET')
  redis.call('GETDEL', k)` + write + `
end
return 1`
}

// recordTrimScript removes the expired fields of buckets ARGV[1] to
// ARGV[2]: what a bucketed layout does instead of Redis expiring a key per
// record, one bounded sample (HRANDFIELD, up to 128 fields) per bucket.
const recordTrimScript = `
local now = tonumber(ARGV[3])
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
  local b = 'jobrunner:{d:' .. i .. '}:done'
  local kv = redis.call('HRANDFIELD', b, 128, 'WITHVALUES')
  local old = {}
  for j = 1, #kv, 2 do
    if tonumber(kv[j + 1]) < now then old[#old + 1] = kv[j] end
  end
  if #old > 0 then redis.call('HDEL', b, unpack(old)) end
end
return 1`

// BenchmarkRecordCost measures the Redis CPU a completed record costs in
// each candidate layout of issue 31, over its whole life: the commands a
// job sends (write) and the removal of the record when its window ends
// (Redis's active expiry of the key for "string", a bounded trim of each
// bucket for the others). Buckets hold about 60 live records before and
// about 110 after (fill=110), as in a steady state under
// hash-max-listpack-entries (128), so a lookup scans what it would there;
// fill=33 is the same with buckets a third as full (more of them). The
// commands run inside scripts looping over the jobs, one script call per
// 2,000 jobs: the per-call cost, the same for every layout (one admission
// and one completion call a job), is left out.
//
//	go test -run '^$' -bench RecordCost -benchtime 100000x -count 5 ./internal/lockcore/
func BenchmarkRecordCost(b *testing.B) {
	for _, row := range []struct {
		layout       string
		live, perJob int // live records per bucket before; jobs per bucket
	}{
		{"string", 0, 0},
		{"proto", 60, 50},
		{"lean", 60, 50},
		{"lean", 18, 15},
		{"marker-in-hash", 60, 50},
	} {
		layout := row.layout
		name := "layout=" + layout
		if row.live > 0 {
			name += "/fill=" + strconv.Itoa(row.live+row.perJob)
		}
		b.Run(name, func(b *testing.B) {
			c := startRedis(b).Client()
			ctx := context.Background()
			buckets := max(b.N/max(row.perJob, 1), 1)
			if layout != "string" {
				// The live records already in the buckets, expiring in
				// the far future (a day from now).
				live := strconv.FormatInt(time.Now().Add(24*time.Hour).UnixMilli(), 10)
				for first := 0; first < buckets*row.live; first += 1000 {
					_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
						for i := first; i < min(first+1000, buckets*row.live); i++ {
							p.HSet(ctx, "jobrunner:{d:"+strconv.Itoa(i%buckets)+"}:done", "bench.live:"+strconv.Itoa(i), live)
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			keys0, _ := c.DBSize(ctx).Result()
			const ttl = 2 * time.Second
			expiry := strconv.FormatInt(time.Now().Add(ttl).UnixMilli(), 10)
			cpu0 := serverCPU(b, c)
			b.ResetTimer()
			for first := 0; first < b.N; first += 2000 {
				n := min(2000, b.N-first)
				err := c.Eval(ctx, recordCostScripts[layout], nil, first, n, buckets, expiry, ttl.Milliseconds()).Err()
				if err != nil {
					b.Fatal(err)
				}
			}
			cpu1 := serverCPU(b, c)
			b.StopTimer()
			// The removal: wait out the records' window, then let Redis
			// expire the keys (string) or trim every bucket once.
			time.Sleep(time.Until(time.UnixMilli(mustInt(b, expiry))) + 100*time.Millisecond)
			cpu2 := serverCPU(b, c)
			if layout == "string" {
				for {
					n, _ := c.DBSize(ctx).Result()
					if n <= keys0 {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			} else {
				now := time.Now().UnixMilli()
				for first := 0; first < buckets; first += 500 {
					if err := c.Eval(ctx, recordTrimScript, nil, first, min(first+500, buckets)-1, now).Err(); err != nil {
						b.Fatal(err)
					}
				}
				if n, _ := c.HLen(ctx, "jobrunner:{d:0}:done").Result(); n > int64(row.live)+5 {
					b.Fatalf("a trimmed bucket still holds %d fields", n)
				}
			}
			cpu3 := serverCPU(b, c)
			n := float64(b.N)
			b.ReportMetric((cpu1-cpu0)/n*1e6, "write-µs/record")
			b.ReportMetric((cpu3-cpu2)/n*1e6, "removal-µs/record")
			b.ReportMetric((cpu1-cpu0+cpu3-cpu2)/n*1e6, "redis-µs/record")
		})
	}
}

func mustInt(b *testing.B, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
