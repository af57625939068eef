package enqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/jobrunner/jobrunner/job"
)

// lineOverhead is how much longer than the payload limit a JSONL line may
// be, for its type and options.
const lineOverhead = 64 << 10

// maxReportedLines caps how many invalid lines are printed on stderr; the
// JSON summary lists them all.
const maxReportedLines = 100

// lineError is one invalid line of bulk input.
type lineError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// bulkSummary is what a bulk run prints at the end.
type bulkSummary struct {
	DryRun         bool        `json:"dry_run,omitempty"`
	Valid          int         `json:"valid"`
	Enqueued       int         `json:"enqueued"`
	Duplicates     int         `json:"duplicates"`
	DuplicateLines []int       `json:"duplicate_lines,omitempty"`
	NotWritten     int         `json:"not_written,omitempty"`
	Invalid        int         `json:"invalid"`
	InvalidLines   []lineError `json:"invalid_lines,omitempty"`
	// Batch is the ID of the batch the tasks joined (--on-complete).
	Batch string `json:"batch,omitempty"`
	// Tasks lists the tasks written, for the API's answer; the CLI
	// leaves it out.
	Tasks []bulkTask `json:"tasks,omitempty"`
}

// bulkTask is one task a bulk request of the API wrote.
type bulkTask struct {
	Line   int    `json:"line"`
	TaskID string `json:"task_id"`
	Queue  string `json:"queue"`
}

// bulk enqueues one job per line of --file.
func (c *cli) bulk(ctx context.Context, opts optionSet) int {
	r, closeFn, err := c.open(c.f.file)
	if err != nil {
		return c.failErr(err)
	}
	defer closeFn()
	var cb job.Callback
	var cbQueue string
	if c.f.onComplete != "" {
		if cb, cbQueue, err = c.onComplete(); err != nil {
			return c.failErr(err) // before anything is read or written
		}
	}
	src := c.f.file
	if src == "-" {
		src = "stdin"
	}
	tasks, lines, invalid, err := c.readTasks(ctx, r, opts)
	if ctx.Err() != nil {
		// Lines checked after the interruption failed for that reason alone.
		return c.fail(ExitInterrupted, fmt.Errorf("interrupted while reading and checking %s: nothing enqueued", src))
	}
	if err != nil {
		return c.fail(ExitError, fmt.Errorf("read %s: %v", src, err))
	}
	for i, le := range invalid {
		if i == maxReportedLines {
			fmt.Fprintf(c.stderr, "%s: %s: %d more invalid lines not shown\n", c.cfg.Name, src, len(invalid)-i)
			break
		}
		fmt.Fprintf(c.stderr, "%s: %s:%d: %s\n", c.cfg.Name, src, le.Line, le.Error)
	}
	if c.f.failFast && len(invalid) > 0 {
		return c.fail(ExitUsage, fmt.Errorf("%s: invalid line %d; nothing enqueued (--fail-fast)", src, invalid[0].Line))
	}
	sum := bulkSummary{DryRun: c.f.dryRun, Valid: len(tasks), Invalid: len(invalid), InvalidLines: invalid}
	code := ExitOK
	if len(invalid) > 0 {
		code = ExitUsage
	}
	if c.f.dryRun || len(tasks) == 0 {
		return c.printSummary(sum, code)
	}
	rdb, err := c.connect(ctx)
	if err != nil {
		return c.failConnect(ctx, err)
	}
	defer rdb.Close()
	w := &bulkWriter{rdb: rdb, batch: c.cfg.BatchSize, now: c.cfg.now}
	var bar *progressBar
	if c.cfg.isTerminal(c.stderr) {
		bar = newProgressBar(c.stderr, len(tasks))
	}
	ctx, span, headers := c.startSpan(ctx, "enqueue batch", batchAttrs(tasks)...)
	for i := range tasks {
		tasks[i].Headers = headers
	}
	var batch *job.Batch
	if c.f.onComplete != "" {
		if batch, err = c.joinBatch(ctx, rdb, cb, tasks); err != nil {
			endSpan(span, err)
			return c.fail(ExitError, fmt.Errorf("open a batch: %v; nothing enqueued", err))
		}
		sum.Batch = batch.ID()
	}
	start := c.cfg.now()
	outcomes, werr := w.write(ctx, tasks, bar.update)
	bar.finish()
	for i, o := range outcomes {
		switch o {
		case wrote:
			sum.Enqueued++
		case idConflict, notUnique:
			sum.Duplicates++
			sum.DuplicateLines = append(sum.DuplicateLines, lines[i])
		default:
			sum.NotWritten++
		}
	}
	endSpan(span, werr, attrEnqueued.Int(sum.Enqueued), attrDuplicates.Int(sum.Duplicates))
	if batch != nil && werr == nil {
		werr = c.closeBatch(context.WithoutCancel(ctx), rdb, batch, tasks, outcomes)
	}
	if werr != nil {
		c.printSummary(sum, code)
		if batch != nil {
			fmt.Fprintf(c.stderr, "%s: batch %s is left open: it has no callback until its TTL ends\n", c.cfg.Name, batch.ID())
		}
		if ctx.Err() != nil {
			return c.fail(ExitInterrupted, fmt.Errorf("interrupted: %d of %d tasks enqueued", sum.Enqueued, len(tasks)))
		}
		return c.fail(ExitError, fmt.Errorf("bulk enqueue stopped after %d of %d tasks: %v", sum.Enqueued+sum.Duplicates, len(tasks), werr))
	}
	if len(invalid) > 0 {
		c.printSummary(sum, code)
		c.fail(code, fmt.Errorf("%s: %d invalid lines skipped; the %d valid ones were processed", src, len(invalid), len(tasks)))
	} else if rc := c.printSummary(sum, code); rc != ExitOK {
		return rc
	}
	if batch != nil && c.f.wait {
		if rc := c.waitBatch(ctx, rdb, batch, cbQueue, start); rc != ExitOK {
			return rc
		}
	}
	return code
}

// readTasks reads and validates every line. It returns the valid tasks
// with their line numbers, and the invalid lines in order; with
// --fail-fast only the first invalid one. Only a read error is an error.
func (c *cli) readTasks(ctx context.Context, r io.Reader, opts optionSet) ([]task, []int, []lineError, error) {
	entries, err := readLines(ctx, r, c.f.maxPayload+lineOverhead)
	if err != nil {
		return nil, nil, nil, err
	}
	tasks, lines, invalid := checkLines(ctx, c.validator(), opts, entries, c.f.failFast)
	return tasks, lines, invalid, nil
}

// lineEntry is one line of bulk input (or one element of the API's JSON
// array), then its task or its error.
type lineEntry struct {
	n    int // line number, from 1
	line []byte
	t    task
	err  error
}

// readLines reads the non-blank lines of r, each at most max bytes; a
// longer line is an entry with its error. It stops early when ctx is done.
func readLines(ctx context.Context, r io.Reader, max int) ([]lineEntry, error) {
	var entries []lineEntry
	lr := newLineReader(r, max)
	for ctx.Err() == nil {
		line, err := lr.next()
		switch {
		case errors.Is(err, io.EOF):
		case errors.Is(err, errLineTooLong):
			entries = append(entries, lineEntry{n: lr.n, err: fmt.Errorf(
				"line is longer than %d bytes (the payload limit, --max-payload-bytes, plus %d for type and options)", lr.max, lineOverhead)})
			continue
		case err != nil:
			return nil, err
		case len(bytes.TrimSpace(line)) == 0:
			continue
		default:
			entries = append(entries, lineEntry{n: lr.n, line: bytes.Clone(line)})
			continue
		}
		break
	}
	return entries, nil
}

// checkLines parses and validates each entry with v, opts under each
// line's options, and returns the valid tasks with their line numbers and
// the invalid lines in order; with failFast only the first invalid one.
// Lines are validated in parallel, as strict decoding is most of the CPU
// time of a bulk run.
func checkLines(ctx context.Context, v validator, opts optionSet, entries []lineEntry, failFast bool) ([]task, []int, []lineError) {
	validate := func(e *lineEntry) {
		if e.err != nil || ctx.Err() != nil {
			return
		}
		typ, payload, lopts, err := parseLine(e.line)
		if err == nil {
			e.t, err = v.newTask(ctx, typ, payload, opts.over(lopts))
		}
		e.err, e.line = err, nil
	}
	workers := min(runtime.GOMAXPROCS(0), 1+len(entries)/256)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(entries); i += workers {
				validate(&entries[i])
			}
		})
	}
	wg.Wait()
	var (
		tasks   = make([]task, 0, len(entries))
		lines   = make([]int, 0, len(entries))
		invalid []lineError
	)
	for _, e := range entries {
		if e.err != nil {
			invalid = append(invalid, lineError{Line: e.n, Error: e.err.Error()})
			if failFast {
				break
			}
			continue
		}
		tasks = append(tasks, e.t)
		lines = append(lines, e.n)
	}
	return tasks, lines, invalid
}

func (c *cli) printSummary(s bulkSummary, code int) int {
	if c.f.output == "json" {
		if rc := c.printJSON(s); rc != ExitOK {
			return rc
		}
		return code
	}
	var b strings.Builder
	if s.DryRun {
		fmt.Fprintf(&b, "dry run: would enqueue %d", s.Valid)
	} else {
		fmt.Fprintf(&b, "enqueued %d, duplicates %d%s", s.Enqueued, s.Duplicates, lineList(s.DuplicateLines))
	}
	errLines := make([]int, len(s.InvalidLines))
	for i, le := range s.InvalidLines {
		errLines[i] = le.Line
	}
	fmt.Fprintf(&b, ", invalid %d%s", s.Invalid, lineList(errLines))
	if s.NotWritten > 0 {
		fmt.Fprintf(&b, ", not written %d", s.NotWritten)
	}
	if s.Batch != "" {
		fmt.Fprintf(&b, "\nbatch %s", s.Batch)
	}
	fmt.Fprintln(c.stdout, b.String())
	return code
}

// lineList formats line numbers as " (lines 3, 7)", at most 10 of them.
func lineList(ns []int) string {
	if len(ns) == 0 {
		return ""
	}
	word := "lines"
	if len(ns) == 1 {
		word = "line"
	}
	parts := make([]string, 0, 11)
	for i, n := range ns {
		if i == 10 {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, strconv.Itoa(n))
	}
	return " (" + word + " " + strings.Join(parts, ", ") + ")"
}
