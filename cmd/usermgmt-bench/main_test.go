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
		"| sqlitestore | Sweep/stale_10pct | 26.42s (264.2µs per idle user) | | | ≤ 27µs MISSED |",
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

func TestNewTargets(t *testing.T) {
	results := map[string]map[string][]sample{
		"sqlitestore": {
			"BenchmarkCanOn/20_groups_50_grants": {{"ratio": 1.5, "lib-ns/op": 40000, "base-ns/op": 26000}},
			"BenchmarkConcurrentLogins":          {{"ratio": 0.95, "logins/s": 110, "ideal-logins/s": 116}},
			"BenchmarkSweep/stale_10pct":         {{"ns/op": 2e9, "ns/idle-user": 20000}},
		},
		"redisstore": {"BenchmarkConcurrentLogins": {{"ratio": 0.8, "logins/s": 90, "ideal-logins/s": 112.5}}},
	}
	var out bytes.Buffer
	report(&out, results, 1)
	for _, want := range []string{
		"| sqlitestore | CanOn/20_groups_50_grants | 40µs | 26µs | 1.500 | ≤ 50µs met |",
		"| sqlitestore | ConcurrentLogins | 110.0 logins/s | 116.0 logins/s (ideal) | 0.950 | ≥ 0.90 met |",
		"| redisstore | ConcurrentLogins | 90.0 logins/s | 112.5 logins/s (ideal) | 0.800 | ≥ 0.90 MISSED |",
		"| sqlitestore | Sweep/stale_10pct | 2s (20µs per idle user) | | | ≤ 27µs met |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestDur(t *testing.T) {
	for ns, want := range map[float64]string{0.5: "0s", 996: "996ns", 71071.4: "71.07µs", 16707412839: "16.71s"} {
		if got := dur(ns); got != want {
			t.Errorf("dur(%v) = %q, want %q", ns, got, want)
		}
	}
}
