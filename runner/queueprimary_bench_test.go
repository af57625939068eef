package runner_test

import (
	"strconv"
	"testing"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// BenchmarkQueuePrimary asks what bounds one queue on a cluster: asynq
// keeps a queue in one slot, so its primary runs every dequeue and
// completion, while the layers' keys (a job's dedupe record, its lock and
// fence) spread over the primaries by their hash tags. It runs, on a
// cluster of 3 primaries, bare asynq and the full stack twice: with the
// jobs' keys anywhere (a third land on the queue's primary, as in
// production) and with every job's dedupe and lock tags on the other
// primaries. queue-node-cpu-µs/op is the queue's primary's Redis CPU per
// job (INFO cpu); compare it with bare asynq's of the same run.
//
//	go test -run '^$' -bench QueuePrimary -benchtime 20000x -count 3 ./runner/
func BenchmarkQueuePrimary(b *testing.B) {
	b.Run("keys=anywhere", func(b *testing.B) { benchThroughput(b, "cluster", []int{50}, stacks, nil) })
	b.Run("keys=elsewhere", func(b *testing.B) {
		benchThroughput(b, "cluster", []int{50}, []namedStack{{"full-stack", fullStack}}, offQueueNumbers)
	})
}

// offQueueNumbers returns payload numbers whose jobs' dedupe tag
// ({bench.noop:bench:N}) and lock tag ({bench:N}) both hash to primaries
// other than the queue's.
func offQueueNumbers(b *testing.B, env *redistest.Env) func(i int) int {
	queue := env.PrimaryFor(asynqdb.PendingKey("default")).Addr
	onQueue := make([]bool, 16384)
	for _, n := range env.Cluster.Layout() {
		if n.Primary && n.Addr == queue {
			for slot := range onQueue {
				onQueue[slot] = onQueue[slot] || n.Serves(slot)
			}
		}
	}
	for _, k := range []string{"bench:1", "bench.noop:bench:2", "x"} {
		if got, want := keySlot(k), env.Cluster.Slot("{"+k+"}"); got != want {
			b.Fatalf("keySlot(%q) = %d, CLUSTER KEYSLOT says %d", k, got, want)
		}
	}
	var nums []int
	for n := 0; len(nums) < b.N; n++ {
		k := "bench:" + strconv.Itoa(n)
		if !onQueue[keySlot("bench.noop:"+k)] && !onQueue[keySlot(k)] {
			nums = append(nums, n)
		}
	}
	return func(i int) int { return nums[i] }
}

// keySlot is Redis Cluster's hash slot of a hash tag's content: CRC16
// (XMODEM) modulo 16384.
func keySlot(tag string) int {
	var crc uint16
	for i := range len(tag) {
		crc ^= uint16(tag[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}
