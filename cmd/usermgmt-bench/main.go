// Command usermgmt-bench runs the benchmark suite of every store and prints
// what the library costs as ratios against bare baselines measured in the
// same run (library / baseline), beside the targets the project holds
// itself to.
//
//	go run ./cmd/usermgmt-bench                  # every store, 3 runs each
//	go run ./cmd/usermgmt-bench -count 5 -stores sqlitestore
//	go run ./cmd/usermgmt-bench -bench Authenticate -stores memstore 2>auth.log
//	go run ./cmd/usermgmt-bench -from run.log    # the table again, from a saved run's output
//
// Everything the benchmarks print goes to stderr as it runs, each package's
// output after a "$ go test ... ./store/NAME/" line; -from reads such a log
// (several logs concatenated are fine) instead of running anything.
//
// Large datasets (a million SQLite users; 200,000 Redis and in-memory
// users) are built once and cached under -data (default:
// $TMPDIR/usermgmt-bench; the Redis one lives as long as its server). Each
// comparison is a benchmark that alternates baseline and library in one
// loop (storebench.Paired) and reports base-ns/op, lib-ns/op and ratio;
// benchmarks without a baseline (the sweeps) are reported as times. Medians
// over -count runs are used.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	count := flag.Int("count", 3, "runs of each benchmark; medians are reported")
	stores := flag.String("stores", "memstore,sqlitestore,redisstore,pgstore", "comma-separated store packages under ./store")
	data := flag.String("data", filepath.Join(os.TempDir(), "usermgmt-bench"), "directory caching the large datasets")
	benchtime := flag.String("benchtime", "3s", "go test -benchtime for lookups and pages")
	authtime := flag.String("authtime", "10s", "go test -benchtime for Authenticate (each step hashes, so it needs longer for steady means)")
	only := flag.String("bench", "Authenticate,Lookup,Pages,CanOn,ConcurrentLogins,Bulk,Sweep", "comma-separated benchmarks to run")
	from := flag.String("from", "", "report from this saved stderr log of earlier runs instead of running")
	flag.Parse()

	if *from != "" {
		results, count, err := parseLog(*from)
		if err != nil {
			fatal(err)
		}
		report(os.Stdout, results, count)
		return
	}

	if err := os.MkdirAll(*data, 0o755); err != nil {
		fatal(err)
	}
	results := map[string]map[string][]sample{} // store -> benchmark -> one sample per run
	for _, store := range strings.Split(*stores, ",") {
		store = strings.TrimSpace(store)
		results[store] = map[string][]sample{}
		// Slow, state-changing benchmarks (bulk creation, sweeps) run once per
		// count; the rest for a time.
		for _, pass := range []struct {
			benches   []string
			benchtime string
		}{
			{[]string{"Authenticate"}, *authtime},
			{[]string{"Lookup", "Pages", "CanOn"}, *benchtime},
			{[]string{"ConcurrentLogins"}, "10x"},
			{[]string{"Bulk", "Sweep"}, "1x"},
		} {
			var names []string
			for _, name := range pass.benches {
				if slices.Contains(strings.Split(*only, ","), name) {
					names = append(names, name)
				}
			}
			if len(names) == 0 {
				continue
			}
			bench := "^Benchmark(" + strings.Join(names, "|") + ")$"
			if err := run(store, bench, pass.benchtime, *count, *data, results[store]); err != nil {
				fatal(fmt.Errorf("%s: %w", store, err))
			}
		}
	}
	report(os.Stdout, results, *count)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "usermgmt-bench:", err)
	os.Exit(1)
}

var (
	line   = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)
	metric = regexp.MustCompile(`([\d.]+) (\S+)`)
)

// sample is one result line's metrics, by unit: ns/op, and for paired
// benchmarks base-ns/op, lib-ns/op and ratio.
type sample map[string]float64

// run runs one go test -bench pass, echoing its output to stderr and
// collecting each result line's metrics per benchmark.
func run(store, bench, benchtime string, count int, data string, into map[string][]sample) error {
	args := []string{"test", "-run", "^$", "-bench", bench, "-benchmem", "-benchtime", benchtime,
		"-count", strconv.Itoa(count), "-timeout", "4h", "./store/" + store + "/"}
	fmt.Fprintf(os.Stderr, "$ go %s\n", strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "USERMGMT_BENCH_DIR="+data)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		text := sc.Text()
		fmt.Fprintln(os.Stderr, text)
		collect(text, into)
	}
	return cmd.Wait()
}

// collect adds the metrics of a benchmark result line to into.
func collect(text string, into map[string][]sample) {
	m := line.FindStringSubmatch(text)
	if m == nil {
		return
	}
	smp := sample{}
	for _, mm := range metric.FindAllStringSubmatch(m[2], -1) {
		v, _ := strconv.ParseFloat(mm[1], 64)
		smp[mm[2]] = v
	}
	into[m[1]] = append(into[m[1]], smp)
}

var (
	header    = regexp.MustCompile(`^\$ go test .*\./store/([^/\s]+)/?$`)
	countFlag = regexp.MustCompile(`-count (\d+)`)
)

// parseLog reads the stderr of earlier runs: each "$ go test" line names
// the store the result lines after it belong to. Where a log measures a
// benchmark more than once (logs of several runs concatenated), the last
// pass's samples are the ones reported.
func parseLog(path string) (map[string]map[string][]sample, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	type pass struct {
		store   string
		samples map[string][]sample
	}
	var passes []pass
	count := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		text := sc.Text()
		if m := header.FindStringSubmatch(text); m != nil {
			passes = append(passes, pass{m[1], map[string][]sample{}})
			if c := countFlag.FindStringSubmatch(text); c != nil {
				count, _ = strconv.Atoi(c[1])
			}
			continue
		}
		if len(passes) > 0 {
			collect(text, passes[len(passes)-1].samples)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	if len(passes) == 0 {
		return nil, 0, fmt.Errorf("%s: no \"$ go test\" lines: not a usermgmt-bench log", path)
	}
	results := map[string]map[string][]sample{}
	for _, p := range passes {
		if results[p.store] == nil {
			results[p.store] = map[string][]sample{}
		}
		for name, runs := range p.samples {
			results[p.store][name] = runs
		}
	}
	return results, count, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// target is a bound the project reports against: lo <= ratio <= hi, or,
// for an absolute target, the library's time (or the time per idle user)
// at most maxNs.
type target struct {
	store  string // "" for every store
	match  string // substring of "Group/sub"
	lo, hi float64
	maxNs  float64
}

var targets = []target{
	{"", "unknown_vs_wrong", 0.95, 1.05, 0},
	{"memstore", "Authenticate/", 0, 1.03, 0},
	{"sqlitestore", "Authenticate/", 0, 1.05, 0},
	{"redisstore", "Authenticate/", 0, 1.08, 0},
	{"pgstore", "Authenticate/", 0, 1.05, 0},
	{"pgstore", "Lookup/", 0, 1.2, 0},
	{"", "Lookup/", 0, 1.3, 0},
	{"", "deep_page", 0, 1.5, 0},
	{"pgstore", "Bulk/", 0, 1.5, 0},
	{"", "Bulk/", 0, 2.0, 0},
	{"", "ConcurrentLogins", 0.9, math.Inf(1), 0},
	{"sqlitestore", "CanOn/", 0, 0, 50_000},
	{"sqlitestore", "Sweep/", 0, 0, 27_000},
	{"redisstore", "Sweep/", 0, 0, 16_000},
}

func targetFor(store, name string) (target, bool) {
	for _, t := range targets {
		if (t.store == "" || t.store == store) && strings.Contains(name, t.match) {
			return t, true
		}
	}
	return target{}, false
}

// medianOf is the median of one metric over the runs that report it.
func medianOf(runs []sample, unit string) (float64, bool) {
	var v []float64
	for _, r := range runs {
		if x, ok := r[unit]; ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0, false
	}
	return median(v), true
}

func report(w io.Writer, results map[string]map[string][]sample, count int) {
	fmt.Fprintf(w, "\n# usermgmt benchmarks, %s, %s/%s, %d CPUs, %s, median of %d\n\n",
		time.Now().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), count)
	fmt.Fprintln(w, "| store | benchmark | library | baseline | ratio | target |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	stores := make([]string, 0, len(results))
	for s := range results {
		stores = append(stores, s)
	}
	sort.Strings(stores)
	for _, store := range stores {
		names := make([]string, 0, len(results[store]))
		for n := range results[store] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, full := range names {
			runs := results[store][full]
			name := strings.TrimPrefix(full, "Benchmark")
			t, hasTarget := targetFor(store, name)
			ratio, paired := medianOf(runs, "ratio")
			if rate, ok := medianOf(runs, "logins/s"); ok {
				ideal, _ := medianOf(runs, "ideal-logins/s")
				fmt.Fprintf(w, "| %s | %s | %.1f logins/s | %.1f logins/s (ideal) | %.3f | %s |\n", store, name, rate, ideal, ratio, ratioTarget(t, hasTarget, ratio))
				if par, ok := medianOf(runs, "parallel-verifications/s"); ok {
					vs, _ := medianOf(runs, "ratio-vs-parallel")
					fmt.Fprintf(w, "| %s | %s vs parallel | %.1f logins/s | %.1f bare verifications/s (parallel) | %.3f | (what the machine allows) |\n", store, name, rate, par, vs)
				}
				continue
			}
			if !paired {
				ns, _ := medianOf(runs, "ns/op")
				took := dur(ns)
				judged := ns
				if per, ok := medianOf(runs, "ns/idle-user"); ok {
					took += " (" + dur(per) + " per idle user)"
					judged = per
				}
				fmt.Fprintf(w, "| %s | %s | %s | | | %s |\n", store, name, took, absTarget(t, hasTarget, judged))
				continue
			}
			lib, _ := medianOf(runs, "lib-ns/op")
			base, _ := medianOf(runs, "base-ns/op")
			tgt := ratioTarget(t, hasTarget, ratio)
			if hasTarget && t.maxNs > 0 {
				tgt = absTarget(t, true, lib)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %.3f | %s |\n", store, name, dur(lib), dur(base), ratio, tgt)
		}
	}
}

// ratioTarget words how a ratio stands against its target.
func ratioTarget(t target, ok bool, ratio float64) string {
	if !ok || t.maxNs > 0 {
		return ""
	}
	mark := "met"
	if ratio < t.lo || ratio > t.hi {
		mark = "MISSED"
	}
	switch {
	case math.IsInf(t.hi, 1):
		return fmt.Sprintf("≥ %.2f %s", t.lo, mark)
	case t.lo > 0:
		return fmt.Sprintf("%.2f–%.2f %s", t.lo, t.hi, mark)
	}
	return fmt.Sprintf("≤ %.2f %s", t.hi, mark)
}

// absTarget words how a time stands against an absolute target.
func absTarget(t target, ok bool, ns float64) string {
	if !ok || t.maxNs == 0 {
		return ""
	}
	mark := "met"
	if ns > t.maxNs {
		mark = "MISSED"
	}
	return fmt.Sprintf("≤ %s %s", dur(t.maxNs), mark)
}

// dur formats a time to four significant digits.
func dur(ns float64) string {
	unit := time.Duration(1)
	if ns >= 1 {
		unit = time.Duration(max(1, math.Pow(10, math.Floor(math.Log10(ns))-3)))
	}
	return time.Duration(ns).Round(unit).String()
}
