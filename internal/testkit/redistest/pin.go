package redistest

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// PinProcess pins every thread of this process to cpus, so that a
// benchmark's worker runs on cores of its own while a Redis started with
// Options.CPUs runs on others: the shape of a production deployment.
// Threads the runtime starts later inherit the pinning from the thread that
// starts them. restore gives every thread all the CPUs back.
func PinProcess(cpus ...int) (restore func(), err error) {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if err := setAllThreads(&set); err != nil {
		return nil, err
	}
	return func() {
		var all unix.CPUSet
		for c := range 1024 {
			all.Set(c)
		}
		_ = setAllThreads(&all)
	}, nil
}

// setAllThreads sets the CPU affinity of every thread of this process.
func setAllThreads(set *unix.CPUSet) error {
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("redistest: pin: %w", err)
	}
	for _, t := range tids {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		// A thread may exit meanwhile; only a failure on the rest matters.
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("redistest: pin thread %d: %w", tid, err)
		}
	}
	return nil
}

// cpuList formats cpus for taskset -c.
func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}
