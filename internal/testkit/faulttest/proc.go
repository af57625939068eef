package faulttest

import (
	"strconv"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// Line is one parsed JSON log line.
type Line = workertest.Line

// Proc is a testworker process (see testworker): a worker with the fault
// suite's jobs and short TTLs, reporting to the ledger.
type Proc struct {
	*workertest.Worker
	// Name is its name in the ledger (WORKER_PROC).
	Name string
}

// StartProc runs a testworker named name against the Redis at redisAddr
// with the ledger at ledgerAddr, and waits for its worker.started line.
// It is killed when the test ends.
func StartProc(tb testing.TB, name, redisAddr, ledgerAddr string, concurrency int, env ...string) *Proc {
	tb.Helper()
	bin := workertest.Build(tb, "./internal/testkit/faulttest/testworker")
	w := workertest.Run(tb, bin, nil, append([]string{
		"REDIS_URL=" + redisAddr, "LEDGER_ADDR=" + ledgerAddr, "WORKER_PROC=" + name,
		"WORKER_CONCURRENCY=" + strconv.Itoa(concurrency), "LOG_LEVEL=debug",
	}, env...))
	w.WaitEvent("worker.started", 60*time.Second)
	return &Proc{Worker: w, Name: name}
}
