package fleet

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// The worker's environment variables that both cmd/worker and enqueue
// --status read.
const (
	QueuesEnv         = "WORKER_QUEUES"
	LimitsEnv         = "WORKER_DEPENDENCY_LIMITS"
	SharedBreakersEnv = "WORKER_SHARED_BREAKERS"
)

// queuesSyntax is what WORKER_QUEUES takes.
const queuesSyntax = "want name=priority[,name=priority...] with priorities >= 1, e.g. critical=6,default=3,low=1"

// ParseQueues parses WORKER_QUEUES: queue names with priorities, e.g.
// critical=6,default=3,low=1.
func ParseQueues(v string) (map[string]int, error) {
	q := map[string]int{}
	for part := range strings.SplitSeq(v, ",") {
		name, prio, ok := strings.Cut(part, "=")
		name, prio = strings.TrimSpace(name), strings.TrimSpace(prio)
		n, err := strconv.Atoi(prio)
		if !ok || name == "" || err != nil || n < 1 {
			return nil, errors.New(queuesSyntax)
		}
		if _, dup := q[name]; dup {
			return nil, fmt.Errorf("queue %q listed twice; %s", name, queuesSyntax)
		}
		q[name] = n
	}
	return q, nil
}

// QueueNames returns the names of queues, sorted.
func QueueNames(queues map[string]int) []string {
	return slices.Sorted(maps.Keys(queues))
}

// limitsSyntax is what WORKER_DEPENDENCY_LIMITS takes.
const limitsSyntax = "want dependency=concurrency:N,rate:N/s|N/m|N/h,burst:N[;dependency=...], e.g. payment-api=concurrency:10,rate:100/s"

// ParseLimits parses WORKER_DEPENDENCY_LIMITS: entries separated by ';',
// each a dependency name, '=', and comma-separated settings. An error
// names the entry.
func ParseLimits(v string) (map[string]Limit, error) {
	out := map[string]Limit{}
	for entry := range strings.SplitSeq(v, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		dep, spec, ok := strings.Cut(entry, "=")
		dep = strings.TrimSpace(dep)
		if !ok || dep == "" || strings.TrimSpace(spec) == "" {
			return nil, fmt.Errorf("entry %q: %s", entry, limitsSyntax)
		}
		if _, dup := out[dep]; dup {
			return nil, fmt.Errorf("entry %q: dependency %q listed twice", entry, dep)
		}
		l, err := parseLimit(spec)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", entry, err)
		}
		out[dep] = l
	}
	return out, nil
}

func parseLimit(spec string) (Limit, error) {
	var l Limit
	seen := map[string]bool{}
	for item := range strings.SplitSeq(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || v == "" {
			return l, fmt.Errorf("setting %q: %s", item, limitsSyntax)
		}
		if seen[k] {
			return l, fmt.Errorf("setting %q given twice", k)
		}
		seen[k] = true
		switch k {
		case "concurrency", "burst":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return l, fmt.Errorf("%s %q: want an integer >= 1", k, v)
			}
			if k == "concurrency" {
				l.Concurrency = n
			} else {
				l.Rate.Burst = n
			}
		case "rate":
			r, err := parseRate(v)
			if err != nil {
				return l, err
			}
			l.Rate.N, l.Rate.Per = r.N, r.Per
		default:
			return l, fmt.Errorf("unknown setting %q: %s", k, limitsSyntax)
		}
	}
	if l.Rate.Burst > 0 && l.Rate.N == 0 {
		return l, errors.New("burst without a rate")
	}
	return l, nil
}

func parseRate(v string) (lockcore.Rate, error) {
	n, per, ok := strings.Cut(v, "/")
	count, err := strconv.Atoi(n)
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[per]
	if !ok || err != nil || count < 1 || unit == 0 {
		return lockcore.Rate{}, fmt.Errorf("rate %q: want N/s, N/m or N/h with N >= 1", v)
	}
	return lockcore.Rate{N: count, Per: unit}, nil
}

// ParseShared parses WORKER_SHARED_BREAKERS: dependency names separated
// by commas, or "*" for all. An empty value is none.
func ParseShared(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []string
	for name := range strings.SplitSeq(v, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, errors.New("want dependency names separated by commas, or * for all")
		}
		out = append(out, name)
	}
	return out, nil
}
