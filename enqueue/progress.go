package enqueue

import (
	"fmt"
	"io"
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
