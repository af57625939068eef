package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jobrunner/jobrunner/lockstore"
	"github.com/jobrunner/jobrunner/runner"
)

// limitsSyntax is what WORKER_DEPENDENCY_LIMITS takes.
const limitsSyntax = "want dependency=concurrency:N,rate:N/s|N/m|N/h,burst:N[;dependency=...], e.g. payment-api=concurrency:10,rate:100/s"

// parseLimits parses WORKER_DEPENDENCY_LIMITS: entries separated by ';',
// each a dependency name, '=', and comma-separated settings. An error names
// the entry.
func parseLimits(v string) (map[string]runner.Limit, error) {
	out := map[string]runner.Limit{}
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

func parseLimit(spec string) (runner.Limit, error) {
	var l runner.Limit
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

func parseRate(v string) (lockstore.Rate, error) {
	n, per, ok := strings.Cut(v, "/")
	count, err := strconv.Atoi(n)
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[per]
	if !ok || err != nil || count < 1 || unit == 0 {
		return lockstore.Rate{}, fmt.Errorf("rate %q: want N/s, N/m or N/h with N >= 1", v)
	}
	return lockstore.Rate{N: count, Per: unit}, nil
}

// parseShared parses WORKER_SHARED_BREAKERS: dependency names separated by
// commas, or "*" for all.
func parseShared(v string) ([]string, error) {
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
