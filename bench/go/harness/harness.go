// Package harness is the command line the Go twins share: PROGRAM
// WORKLOAD [N], one result line on stdout, exit status 1 for a wrong
// result and 2 for bad arguments, as bench/bench.h does for the C side.
package harness

import (
	"fmt"
	"os"
	"strconv"
)

// A Workload runs N operations (read from the variable passed to Main)
// and returns its result line.
type Workload struct {
	Name     string
	Run      func() string
	DefaultN int64
}

// Fatalf reports a wrong result and exits 1.
func Fatalf(prog, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, prog+": "+format+"\n", args...)
	os.Exit(1)
}

func usage(prog string, ws []Workload) {
	fmt.Fprintf(os.Stderr, "usage: %s WORKLOAD [N]\nworkloads:", prog)
	for _, w := range ws {
		fmt.Fprintf(os.Stderr, " %s (N=%d)", w.Name, w.DefaultN)
	}
	fmt.Fprintln(os.Stderr)
	os.Exit(2)
}

// Main picks the workload named by the first argument, stores N (the
// second argument, or the workload's default) in *n, runs it and prints
// its line.  maxN bounds N; 0 means no bound.
func Main(prog string, ws []Workload, n *int64, maxN int64) {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		usage(prog, ws)
	}
	var w *Workload
	for i := range ws {
		if ws[i].Name == os.Args[1] {
			w = &ws[i]
		}
	}
	if w == nil {
		usage(prog, ws)
	}
	*n = w.DefaultN
	if len(os.Args) == 3 {
		v, err := strconv.ParseInt(os.Args[2], 10, 64)
		if maxN == 0 && (err != nil || v <= 0) {
			fmt.Fprintf(os.Stderr, "%s: N must be a positive integer, not %q\n", prog, os.Args[2])
			os.Exit(2)
		}
		if maxN != 0 && (err != nil || v <= 0 || v > maxN) {
			fmt.Fprintf(os.Stderr, "%s: N must be an integer from 1 to %d, not %q\n", prog, maxN, os.Args[2])
			os.Exit(2)
		}
		*n = v
	}
	fmt.Println(w.Run())
}
