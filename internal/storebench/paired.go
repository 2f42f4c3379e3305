package storebench

import (
	"testing"
	"time"
)

// Paired times a bare baseline and the library's operation alternately in
// one loop, so that whatever else the machine is doing slows both alike,
// and reports their means as base-ns/op and lib-ns/op and the ratio
// lib/base as "ratio". (ns/op is the pair together.) Which of the two goes
// first alternates too, so that neither always pays for what the other
// leaves behind (garbage to collect, a cold cache). A shared, noisy
// machine made separate sub-benchmarks swing by more than the overheads
// being measured.
func Paired(b *testing.B, base, lib func() error) {
	b.Helper()
	var baseTotal, libTotal time.Duration
	timed := func(f func() error, total *time.Duration, what string) {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatalf("%s: %v", what, err)
		}
		*total += time.Since(t0)
	}
	n := 0
	for b.Loop() {
		if n%2 == 0 {
			timed(base, &baseTotal, "baseline")
			timed(lib, &libTotal, "library")
		} else {
			timed(lib, &libTotal, "library")
			timed(base, &baseTotal, "baseline")
		}
		n++
	}
	if n == 0 || baseTotal == 0 {
		return
	}
	b.ReportMetric(float64(baseTotal.Nanoseconds())/float64(n), "base-ns/op")
	b.ReportMetric(float64(libTotal.Nanoseconds())/float64(n), "lib-ns/op")
	b.ReportMetric(float64(libTotal)/float64(baseTotal), "ratio")
}
