// Command sched is bench/sched.c written in Go: the same workloads, the same
// arguments and the same result line, so that bench/compare.sh can put gort
// and Go side by side.
//
//	go-sched WORKLOAD [N]
//
// prints exactly one line on stdout, the workload's name followed by
// key=value pairs:
//
//	spawn_exit ns_per_op=123.4
//	gosched ns_per_op=45.6
//	parked bytes_per_g=2731 pte_bytes_per_g=6
//
// Keep it doing the same work, step for step, as sched.c.  Standard library
// only: the benchmarks must build without network access.
package main

import (
	"bufio"
	"fmt"
	"gortbench/harness"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

var nOps int64

// spawnExit measures creating a goroutine, running it to its end and
// reclaiming it.  Each goroutine only marks a WaitGroup.
// spawnExitWG is a package variable so that "go spawnExitG()" takes no
// arguments and allocates no closure, as gort_go(fn, arg) allocates nothing
// besides the goroutine.
var spawnExitWG sync.WaitGroup

func spawnExitG() {
	spawnExitWG.Done()
}

func spawnExit() string {
	t0 := time.Now()
	spawnExitWG.Add(int(nOps))
	for i := int64(0); i < nOps; i++ {
		go spawnExitG()
	}
	spawnExitWG.Wait()
	el := time.Since(t0)
	return fmt.Sprintf("spawn_exit ns_per_op=%.1f", float64(el.Nanoseconds())/float64(nOps))
}

var goschedWG sync.WaitGroup

func goschedG() {
	for i := int64(0); i < nOps; i++ {
		runtime.Gosched()
	}
	goschedWG.Done()
}

// gosched measures one voluntary switch: with one P, two goroutines that
// both yield in a loop alternate strictly, 2N switches in all.
func gosched() string {
	runtime.GOMAXPROCS(1)
	t0 := time.Now()
	goschedWG.Add(1)
	go goschedG()
	for i := int64(0); i < nOps; i++ {
		runtime.Gosched()
	}
	goschedWG.Wait()
	el := time.Since(t0)
	return fmt.Sprintf("gosched ns_per_op=%.1f", float64(el.Nanoseconds())/float64(2*nOps))
}

var parkedStarted, parkedGate, parkedExited sync.WaitGroup

func parkedG() {
	parkedStarted.Done()
	parkedGate.Wait()
	parkedExited.Done()
}

// procStatusBytes returns the value of a "Key:  1234 kB" line of
// /proc/self/status, in bytes.
func procStatusBytes(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fatalf("%v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, key+":") {
			continue
		}
		fields := strings.Fields(line[len(key)+1:])
		if len(fields) == 0 {
			break
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			fatalf("/proc/self/status: %s: %v", key, err)
		}
		return kb * 1024
	}
	fatalf("/proc/self/status has no %s line", key)
	return 0
}

// parked measures what a goroutine blocked on a WaitGroup costs the machine:
// the growth of VmRSS and VmPTE from before the spawns to after all N have
// parked, divided by N.
func parked() string {
	rss0 := procStatusBytes("VmRSS")
	pte0 := procStatusBytes("VmPTE")

	parkedGate.Add(1)
	parkedStarted.Add(int(nOps))
	parkedExited.Add(int(nOps))
	for i := int64(0); i < nOps; i++ {
		go parkedG()
	}
	parkedStarted.Wait()
	time.Sleep(100 * time.Millisecond)

	rss1 := procStatusBytes("VmRSS")
	pte1 := procStatusBytes("VmPTE")
	res := fmt.Sprintf("parked bytes_per_g=%.0f pte_bytes_per_g=%.0f",
		float64(rss1-rss0)/float64(nOps), float64(pte1-pte0)/float64(nOps))

	parkedGate.Done()
	parkedExited.Wait()
	return res
}

var workloads = []harness.Workload{
	{Name: "spawn_exit", Run: spawnExit, DefaultN: 1000000},
	{Name: "gosched", Run: gosched, DefaultN: 2000000},
	{Name: "parked", Run: parked, DefaultN: 1000000},
}

func fatalf(format string, args ...interface{}) {
	harness.Fatalf("go-sched", format, args...)
}

func main() {
	harness.Main("go-sched", workloads, &nOps, 0)
}
