package faulttest

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jobrunner/jobrunner/runner"
)

// SlotTTL is the lease of a concurrency slot in the suite's workers.
const SlotTTL = 5 * time.Second

// ParseLimits parses the testworker's WORKER_DEPENDENCY_LIMITS: the
// worker's syntax (entries dependency=settings separated by ';'), limited
// to the one setting the suite uses, concurrency:N. Anything else is an
// error, so that a test cannot believe it set a limit the testworker
// ignores. Slots get SlotTTL, short like the suite's marker TTL, so that a
// dead worker's slots come back within a test.
func ParseLimits(v string) (map[string]runner.Limit, error) {
	out := map[string]runner.Limit{}
	for entry := range strings.SplitSeq(v, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		dep, spec, _ := strings.Cut(entry, "=")
		n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(spec), "concurrency:"))
		if dep = strings.TrimSpace(dep); dep == "" || !strings.HasPrefix(strings.TrimSpace(spec), "concurrency:") || err != nil || n < 1 {
			return nil, fmt.Errorf("entry %q: the testworker takes dependency=concurrency:N only", entry)
		}
		out[dep] = runner.Limit{Concurrency: n, SlotTTL: SlotTTL}
	}
	return out, nil
}
