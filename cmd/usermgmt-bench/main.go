// Command usermgmt-bench runs the benchmark suite of every store and prints
// what the library costs as ratios against bare baselines measured in the
// same run (library / baseline), beside the targets the project holds
// itself to.
//
//	go run ./cmd/usermgmt-bench                  # every store, 3 runs each
//	go run ./cmd/usermgmt-bench -count 5 -stores sqlitestore
//
// Large datasets (a million SQLite users, 200,000 Redis users) are built
// once and cached under -data (default: $TMPDIR/usermgmt-bench). Each
// benchmark group has sub-benchmarks whose names start with "baseline";
// every other sub-benchmark is reported as a ratio to its group's baseline.
// Medians over -count runs are used.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
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
	stores := flag.String("stores", "memstore,sqlitestore,redisstore", "comma-separated store packages under ./store")
	data := flag.String("data", filepath.Join(os.TempDir(), "usermgmt-bench"), "directory caching the large datasets")
	benchtime := flag.String("benchtime", "1s", "go test -benchtime for the fast benchmarks")
	flag.Parse()

	if err := os.MkdirAll(*data, 0o755); err != nil {
		fatal(err)
	}
	results := map[string]map[string][]float64{} // store -> benchmark -> ns/op per run
	for _, store := range strings.Split(*stores, ",") {
		store = strings.TrimSpace(store)
		results[store] = map[string][]float64{}
		// Slow, state-changing benchmarks (bulk creation, sweeps) run once per
		// count; the rest for benchtime.
		for _, pass := range []struct{ bench, benchtime string }{
			{"^Benchmark(Authenticate|Lookup|Pages)$", *benchtime},
			{"^Benchmark(Bulk|Sweep)$", "1x"},
		} {
			if err := run(store, pass.bench, pass.benchtime, *count, *data, results[store]); err != nil {
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

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)

// run runs one go test -bench pass, echoing its output to stderr and
// collecting ns/op per benchmark.
func run(store, bench, benchtime string, count int, data string, into map[string][]float64) error {
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
		if m := line.FindStringSubmatch(text); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			into[m[1]] = append(into[m[1]], v)
		}
	}
	return cmd.Wait()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// target is a bound the project reports against.
type target struct {
	store string // "" for every store
	match string // substring of "Group/sub"
	max   float64
}

var targets = []target{
	{"memstore", "Authenticate/", 1.03},
	{"sqlitestore", "Authenticate/", 1.05},
	{"redisstore", "Authenticate/", 1.08},
	{"", "Lookup", 1.3},
	{"", "deep_page", 1.5},
	{"", "Bulk", 2.0},
}

func targetFor(store, name string) (float64, bool) {
	for _, t := range targets {
		if (t.store == "" || t.store == store) && strings.Contains(name, t.match) {
			return t.max, true
		}
	}
	return 0, false
}

func report(w io.Writer, results map[string]map[string][]float64, count int) {
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
		groups := map[string]map[string]float64{}
		for name, v := range results[store] {
			i := strings.LastIndexByte(name, '/')
			if i < 0 {
				continue
			}
			g := name[:i]
			if groups[g] == nil {
				groups[g] = map[string]float64{}
			}
			groups[g][name[i+1:]] = median(v)
		}
		names := make([]string, 0, len(groups))
		for g := range groups {
			names = append(names, g)
		}
		sort.Strings(names)
		for _, g := range names {
			subs := groups[g]
			var base string
			for s := range subs {
				if strings.HasPrefix(s, "baseline") {
					base = s
				}
			}
			keys := make([]string, 0, len(subs))
			for s := range subs {
				keys = append(keys, s)
			}
			sort.Strings(keys)
			for _, s := range keys {
				if s == base {
					continue
				}
				name := strings.TrimPrefix(g, "Benchmark") + "/" + s
				if base == "" {
					fmt.Fprintf(w, "| %s | %s | %s | | | |\n", store, name, dur(subs[s]))
					continue
				}
				ratio := subs[s] / subs[base]
				tgt := ""
				if max, ok := targetFor(store, name); ok {
					mark := "met"
					if ratio > max {
						mark = "MISSED"
					}
					tgt = fmt.Sprintf("≤ %.2f %s", max, mark)
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s (%s) | %.3f | %s |\n", store, name, dur(subs[s]), dur(subs[base]), base, ratio, tgt)
			}
			// Unknown email must cost what a wrong password costs.
			if u, ok := subs["unknown_email"]; ok {
				if wp, ok := subs["wrong_password"]; ok {
					r := u / wp
					mark := "met"
					if r < 0.95 || r > 1.05 {
						mark = "MISSED"
					}
					fmt.Fprintf(w, "| %s | %s/unknown_email vs wrong_password | %s | %s | %.3f | 0.95–1.05 %s |\n",
						store, strings.TrimPrefix(g, "Benchmark"), dur(u), dur(wp), r, mark)
				}
			}
		}
	}
}

func dur(ns float64) string { return time.Duration(ns).Round(time.Duration(max(1, ns/1000))).String() }
