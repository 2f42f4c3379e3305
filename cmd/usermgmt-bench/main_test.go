package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestReportFromLog renders the table of the run BENCHMARKS.md quotes from
// its saved output: medians of three, ratios beside their targets, sweeps
// as times per idle user.
func TestReportFromLog(t *testing.T) {
	results, count, err := parseLog("testdata/2026-11-26.log")
	if err != nil {
		t.Fatal(err)
	}
	if count != 3 {
		t.Fatalf("count = %d, want 3", count)
	}
	var out bytes.Buffer
	report(&out, results, count)
	for _, row := range []string{
		"| memstore | Authenticate/right_password | 17.56ms | 17.48ms | 1.002 | ≤ 1.03 met |",
		"| sqlitestore | Bulk/invite_users | 6.956s | 6.024s | 1.164 | ≤ 2.00 met |",
		"| redisstore | Lookup/by_email | 71.11µs | 62.13µs | 1.140 | ≤ 1.30 met |",
		"| redisstore | Authenticate/unknown_vs_wrong | 18.84ms | 19.07ms | 0.988 | 0.95–1.05 met |",
		"| sqlitestore | Sweep/stale_10pct | 26.42s (264.2µs per idle user) | | | |",
	} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("table lacks %q:\n%s", row, out.String())
		}
	}
}

func TestTargetMissed(t *testing.T) {
	results := map[string]map[string][]sample{"redisstore": {
		"BenchmarkLookup/by_email": {{"ratio": 1.4, "lib-ns/op": 1400, "base-ns/op": 1000}},
	}}
	var out bytes.Buffer
	report(&out, results, 1)
	if want := "| redisstore | Lookup/by_email | 1.4µs | 1µs | 1.400 | ≤ 1.30 MISSED |"; !strings.Contains(out.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, out.String())
	}
}

func TestDur(t *testing.T) {
	for ns, want := range map[float64]string{0.5: "0s", 996: "996ns", 71071.4: "71.07µs", 16707412839: "16.71s"} {
		if got := dur(ns); got != want {
			t.Errorf("dur(%v) = %q, want %q", ns, got, want)
		}
	}
}
