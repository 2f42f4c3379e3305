package main

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/usermgmt/usermgmt/bulk"
)

// progress shows an import's progress on a terminal: rows read against the
// reader's estimate, then rows applied (or checked) against the total.
type progress struct {
	bar      *progressbar.ProgressBar
	dry      bool
	applying bool
}

// newProgress draws a bar on w, which should be a terminal.
func newProgress(w io.Writer, dry bool) *progress {
	bar := progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("reading rows"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionShowIts(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	return &progress{bar: bar, dry: dry}
}

// update is the bulk.ImportOptions.Progress callback.
func (p *progress) update(ip bulk.ImportProgress) {
	if ip.Total == 0 {
		if ip.Estimate > 0 {
			p.bar.ChangeMax(ip.Estimate)
		}
		_ = p.bar.Set(ip.Read)
		return
	}
	if !p.applying {
		p.applying = true
		p.bar.Reset()
		if p.dry {
			p.bar.Describe("checking rows")
		} else {
			p.bar.Describe("applying rows")
		}
		p.bar.ChangeMax(ip.Total)
	}
	_ = p.bar.Set(ip.Applied)
}

// finish clears the bar; a nil progress does nothing.
func (p *progress) finish() {
	if p == nil {
		return
	}
	_ = p.bar.Finish()
	_ = p.bar.Exit()
}
