package enqueue

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// progressBar draws bulk progress on a terminal. A nil *progressBar is a
// no-op, so callers need not check whether stderr is a terminal.
type progressBar struct {
	w     io.Writer
	total int
	start time.Time
	last  time.Time
	drawn bool
}

const progressWidth = 30

func newProgressBar(w io.Writer, total int) *progressBar {
	return &progressBar{w: w, total: total, start: time.Now()}
}

// update redraws the bar, at most ten times a second and always at the
// end.
func (p *progressBar) update(done int) {
	if p == nil || p.total == 0 {
		return
	}
	now := time.Now()
	if done < p.total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last, p.drawn = now, true
	filled := progressWidth * done / p.total
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d %3d%% %s", strings.Repeat("=", filled), strings.Repeat(" ", progressWidth-filled),
		done, p.total, 100*done/p.total, now.Sub(p.start).Round(100*time.Millisecond))
}

// finish ends the bar's line.
func (p *progressBar) finish() {
	if p != nil && p.drawn {
		fmt.Fprintln(p.w)
	}
}

// rateBar draws the progress of one waited-for job on a terminal: done of
// total (or done alone when the total is unknown), the rate since the first
// report this wait saw, and an estimate of the time left at that rate.
type rateBar struct {
	w      io.Writer
	now    func() time.Time
	base   int // done at the first report seen, or when done went back
	baseAt time.Time
	begun  bool
	drawn  bool // a line is drawn and not yet ended
}

// update redraws the bar for done of total.
func (b *rateBar) update(done, total int) {
	now := b.now()
	if !b.begun || done < b.base {
		// A job that went back (a run that resumed from an earlier place,
		// or started over) restarts the rate.
		b.base, b.baseAt, b.begun = done, now, true
	}
	var s string
	if total > 0 {
		filled := progressWidth * min(done, total) / total
		s = fmt.Sprintf("[%s%s] %d/%d %3d%%", strings.Repeat("=", filled), strings.Repeat(" ", progressWidth-filled),
			done, total, 100*min(done, total)/total)
	} else {
		s = fmt.Sprintf("%d done", done)
	}
	if el := now.Sub(b.baseAt); el > 0 && done > b.base {
		rate := float64(done-b.base) / el.Seconds()
		s += ", " + strconv.FormatFloat(rate, 'f', rateDigits(rate), 64) + "/s"
		if total > done {
			left := time.Duration(float64(total-done) / rate * float64(time.Second))
			s += ", about " + left.Round(time.Second).String() + " left"
		}
	}
	// \x1b[K clears what a longer line drawn before left.
	fmt.Fprintf(b.w, "\r%s\x1b[K", s)
	b.drawn = true
}

// rateDigits is how many decimals a rate is shown with.
func rateDigits(rate float64) int {
	switch {
	case rate >= 10:
		return 0
	case rate >= 1:
		return 1
	}
	return 2
}

// breakLine ends the bar's line, so that what is printed next starts on a
// line of its own; the next update draws a new one.
func (b *rateBar) breakLine() {
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}
