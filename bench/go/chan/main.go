// Command chan is bench/chan.c written in Go: the same workloads, the same
// arguments and the same result line, so that bench/compare.sh can put gort
// and Go side by side.
//
//	go-chan pingpong PROCS [N]
//	go-chan WORKLOAD [N]        (buffered, select2, mutex_uncontended,
//	                             mutex_contended)
//
// prints exactly one line on stdout, the workload's name followed by
// key=value pairs:
//
//	pingpong ns_per_op=123.4
//
// Every workload checks each value it receives, in order, and the final
// counts, and exits with status 1 on the first wrong one, as chan.c does.
//
// Keep it doing the same work, step for step, as chan.c.  Standard library
// only: the benchmarks must build without network access.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

var (
	nOps   int64
	nProcs int // pingpong's GOMAXPROCS
)

// wrong reports a failed check: the runtime gave a wrong value or count.
func wrong(workload, what string, got, want int64) {
	fatalf("%s: %s is %d, want %d", workload, what, got, want)
}

func result(workload string, el time.Duration, ops int64) string {
	return fmt.Sprintf("%s ns_per_op=%.1f", workload, float64(el.Nanoseconds())/float64(ops))
}

// pingpong measures one hand-off over an unbuffered channel: the main
// goroutine sends i on ping, the partner sends it back on pong, N round
// trips, 2N hand-offs.
var ping, pong chan int64

func pingpongG() {
	for i := int64(0); i < nOps; i++ {
		v := <-ping
		if v != i {
			wrong("pingpong", "partner's received value", v, i)
		}
		pong <- v
	}
}

func pingpong() string {
	runtime.GOMAXPROCS(nProcs)
	ping = make(chan int64)
	pong = make(chan int64)

	t0 := time.Now()
	go pingpongG()
	for i := int64(0); i < nOps; i++ {
		ping <- i
		v := <-pong
		if v != i {
			wrong("pingpong", "reply", v, i)
		}
	}
	el := time.Since(t0)
	return result("pingpong", el, 2*nOps)
}

// buffered measures the throughput of a channel with 128 slots: a producer
// sends 1..N, the main goroutine receives them.
const bufferedCap = 128

var bufferedC chan int64

func bufferedG() {
	for i := int64(1); i <= nOps; i++ {
		bufferedC <- i
	}
}

func buffered() string {
	bufferedC = make(chan int64, bufferedCap)

	t0 := time.Now()
	go bufferedG()
	for i := int64(1); i <= nOps; i++ {
		v := <-bufferedC
		if v != i {
			wrong("buffered", "received value", v, i)
		}
	}
	el := time.Since(t0)
	return result("buffered", el, nOps)
}

// select2 measures a blocking 2-way select over two unbuffered channels,
// each fed by its own producer (see chan.c for why unbuffered).  Producer a
// sends 1..N-N/2 and producer b sends 1..N/2; the main goroutine receives N
// values in all and checks each channel's values arrive in order.
var selectA, selectB chan int64

func selectProducerG(c chan int64) {
	n := nOps / 2
	if c == selectA {
		n = nOps - nOps/2
	}
	for i := int64(1); i <= n; i++ {
		c <- i
	}
}

func select2() string {
	selectA = make(chan int64)
	selectB = make(chan int64)
	var last [2]int64

	t0 := time.Now()
	go selectProducerG(selectA)
	go selectProducerG(selectB)
	for i := int64(0); i < nOps; i++ {
		var v int64
		var k int
		select {
		case v = <-selectA:
			k = 0
		case v = <-selectB:
			k = 1
		}
		if v != last[k]+1 {
			what := "value received from a"
			if k == 1 {
				what = "value received from b"
			}
			wrong("select2", what, v, last[k]+1)
		}
		last[k] = v
	}
	el := time.Since(t0)

	if last[0] != nOps-nOps/2 {
		wrong("select2", "values received from a", last[0], nOps-nOps/2)
	}
	if last[1] != nOps/2 {
		wrong("select2", "values received from b", last[1], nOps/2)
	}
	return result("select2", el, nOps)
}

// mutexUncontended measures lock + counter++ + unlock by one goroutine with
// nobody else wanting the mutex.
var (
	mu      sync.Mutex
	counter int64 // protected by mu
)

func mutexUncontended() string {
	t0 := time.Now()
	for i := int64(0); i < nOps; i++ {
		mu.Lock()
		counter++
		mu.Unlock()
	}
	el := time.Since(t0)

	if counter != nOps {
		wrong("mutex_uncontended", "counter", counter, nOps)
	}
	return result("mutex_uncontended", el, nOps)
}

// mutexContended: two goroutines with GOMAXPROCS=2, one doing N-N/2 and the
// other N/2 lock + counter++ + unlock.
var contendedWG sync.WaitGroup

func mutexContendedG(n int64) {
	for i := int64(0); i < n; i++ {
		mu.Lock()
		counter++
		mu.Unlock()
	}
	contendedWG.Done()
}

func mutexContended() string {
	runtime.GOMAXPROCS(2)

	t0 := time.Now()
	contendedWG.Add(2)
	go mutexContendedG(nOps - nOps/2)
	go mutexContendedG(nOps / 2)
	contendedWG.Wait()
	el := time.Since(t0)

	if counter != nOps {
		wrong("mutex_contended", "counter", counter, nOps)
	}
	return result("mutex_contended", el, nOps)
}

type workload struct {
	name       string
	run        func() string
	defaultN   int64
	takesProcs bool // WORKLOAD PROCS [N] rather than WORKLOAD [N]
}

var workloads = []workload{
	{"pingpong", pingpong, 1000000, true},
	{"buffered", buffered, 5000000, false},
	{"select2", select2, 1000000, false},
	{"mutex_uncontended", mutexUncontended, 20000000, false},
	{"mutex_contended", mutexContended, 10000000, false},
}

const maxProcs = 1024 // GORT_MAX_PROCS

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-chan: "+format+"\n", args...)
	os.Exit(1)
}

func usage() {
	fmt.Fprint(os.Stderr, "usage: go-chan WORKLOAD [N]\n       go-chan pingpong PROCS [N]\nworkloads:")
	for _, w := range workloads {
		fmt.Fprintf(os.Stderr, " %s (N=%d)", w.name, w.defaultN)
	}
	fmt.Fprintln(os.Stderr)
	os.Exit(2)
}

// parseCount returns the integer in s, between 1 and max; exit 2 if it is
// not one.
func parseCount(what, s string, max int64) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > max {
		fmt.Fprintf(os.Stderr, "go-chan: %s must be an integer from 1 to %d, not %q\n", what, max, s)
		os.Exit(2)
	}
	return n
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var w *workload
	for i := range workloads {
		if workloads[i].name == os.Args[1] {
			w = &workloads[i]
		}
	}
	if w == nil {
		usage()
	}
	arg := 2
	if w.takesProcs {
		if len(os.Args) < 3 {
			usage()
		}
		nProcs = int(parseCount("PROCS", os.Args[arg], maxProcs))
		arg++
	}
	if len(os.Args) > arg+1 {
		usage()
	}
	nOps = w.defaultN
	// 2^40 is far beyond any useful run and keeps 2*N from overflowing.
	if len(os.Args) == arg+1 {
		nOps = parseCount("N", os.Args[arg], 1<<40)
	}
	fmt.Println(w.run())
}
