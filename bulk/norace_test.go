//go:build !race

package bulk

// raceEnabled reports whether the test binary runs under the race
// detector, which multiplies memory use and time.
const raceEnabled = false
