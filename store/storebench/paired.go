package storebench

import (
	"testing"
	"time"
)

// Paired times a bare baseline and the library's operation alternately in
// one loop, so that whatever else the machine is doing slows both alike,
// and reports their means as base-ns/op and lib-ns/op and the ratio
// lib/base as "ratio". (ns/op is the pair together.) A shared, noisy
// machine made separate sub-benchmarks swing by more than the overheads
// being measured.
func Paired(b *testing.B, base, lib func() error) {
	b.Helper()
	var baseTotal, libTotal time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		if err := base(); err != nil {
			b.Fatalf("baseline: %v", err)
		}
		t1 := time.Now()
		if err := lib(); err != nil {
			b.Fatalf("library: %v", err)
		}
		libTotal += time.Since(t1)
		baseTotal += t1.Sub(t0)
		n++
	}
	if n == 0 || baseTotal == 0 {
		return
	}
	b.ReportMetric(float64(baseTotal.Nanoseconds())/float64(n), "base-ns/op")
	b.ReportMetric(float64(libTotal.Nanoseconds())/float64(n), "lib-ns/op")
	b.ReportMetric(float64(libTotal)/float64(baseTotal), "ratio")
}
