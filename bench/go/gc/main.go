// Command gc is bench/gc.c written in Go: the same workloads, the same
// arguments and the same result line, so that bench/compare.sh can put gort
// and Go side by side.
//
//	go-gc binarytrees [DEPTH]     (DEPTH 6..30, default 18)
//	go-gc alloc16_gc [N]          (N allocations)
//	go-gc alloc64_gc [N]
//	go-gc pause [CYCLES]          (CYCLES 1..250 collections of churn)
//	go-gc freeosmemory [MIB]      (the burst, in MiB)
//	go-gc markcost [SIZE_MB]      (the live heap, in MB of 2^20 bytes)
//
// prints exactly one line on stdout, the workload's name followed by
// key=value pairs:
//
//	binarytrees ms=1234.5 peak_rss_mib=210.3 num_gc=41
//
// The collector runs with the settings it takes from the environment (GOGC,
// GOMAXPROCS), as gort's does: nothing here calls debug.SetGCPercent.
// binarytrees sets GOMAXPROCS to 2, as gc.c does.  After the clock stops,
// every workload checks the objects it still reaches, as gc.c checks them,
// and a wrong one fails the run with exit status 1.  See gc.c for what
// each workload measures.
//
// Keep it doing the same work, step for step, as gc.c.  Standard library
// only: the benchmarks must build without network access.
package main

import (
	"bufio"
	"fmt"
	"gortbench/harness"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var nOps int64

const mib = 1 << 20

// badArg reports a DEPTH, CYCLES, ... out of the workload's range: a usage
// error.
func badArg(workload, what string, min, max int64) {
	fmt.Fprintf(os.Stderr, "go-gc: %s: %s must be from %d to %d, not %d\n", workload, what, min, max, nOps)
	os.Exit(2)
}

// wrong reports a failed check: the runtime lost or reused a live object.
func wrong(workload, what string, got, want int64) {
	fatalf("%s: %s is %d, want %d", workload, what, got, want)
}

// broken reports a failed check that is not one number against another.
func broken(workload, format string, args ...interface{}) {
	fatalf("%s: "+format, append([]interface{}{workload}, args...)...)
}

// memStats is read into one variable: only the main goroutine reads it.
var memStats runtime.MemStats

func readMemStats() *runtime.MemStats {
	runtime.ReadMemStats(&memStats)
	return &memStats
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

// processCPU returns the process's CPU time, user plus system, every
// thread, in nanoseconds (getrusage, as gc.c).
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fatalf("getrusage: %v", err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func sortInt64(v []int64) {
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
}

// obj64 is 64 bytes with pointers at offsets 0, 8 and 24, as in gc.c.
type obj64 struct {
	a *obj64   // offset 0
	b *obj64   // 8
	x int64    // 16
	c *obj64   // 24
	y [4]int64 // 32..63
}

// binarytrees: the benchmarks game's binary-trees on GOMAXPROCS=2, one
// goroutine per depth.
const (
	btMinDepth = 4
	btMaxDepth = 30
)

type node struct {
	left, right *node
}

func bottomUpTree(depth int) *node {
	if depth <= 0 {
		return &node{}
	}
	return &node{bottomUpTree(depth - 1), bottomUpTree(depth - 1)}
}

func (n *node) itemCheck() int64 {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.itemCheck() + n.right.itemCheck()
}

// btDepth is one depth's share: its goroutine fills in check.
type btDepth struct {
	depth      int
	iterations int64
	check      int64
}

var (
	btDepths [btMaxDepth + 1]btDepth
	btWG     sync.WaitGroup
)

func btWorker(d *btDepth) {
	check := int64(0)
	for i := int64(0); i < d.iterations; i++ {
		check += bottomUpTree(d.depth).itemCheck()
	}
	d.check = check
	btWG.Done()
}

func binarytrees() string {
	if nOps < btMinDepth+2 || nOps > btMaxDepth {
		badArg("binarytrees", "DEPTH", btMinDepth+2, btMaxDepth)
	}
	maxDepth := int(nOps)
	runtime.GOMAXPROCS(2)
	gc0 := readMemStats().NumGC

	t0 := time.Now()
	stretchCheck := bottomUpTree(maxDepth + 1).itemCheck()
	longLived := bottomUpTree(maxDepth)
	for d := btMinDepth; d <= maxDepth; d += 2 {
		btDepths[d] = btDepth{d, int64(1) << (maxDepth - d + btMinDepth), 0}
		btWG.Add(1)
		go btWorker(&btDepths[d])
	}
	btWG.Wait()
	longLivedCheck := longLived.itemCheck()
	el := time.Since(t0)

	gc1 := readMemStats().NumGC
	hwm := procStatusBytes("VmHWM")
	if want := int64(2)<<(maxDepth+1) - 1; stretchCheck != want {
		wrong("binarytrees", "check of the stretch tree", stretchCheck, want)
	}
	for d := btMinDepth; d <= maxDepth; d += 2 {
		if want := btDepths[d].iterations * (int64(2)<<d - 1); btDepths[d].check != want {
			wrong("binarytrees", "check of the trees of one depth", btDepths[d].check, want)
		}
	}
	if want := int64(2)<<maxDepth - 1; longLivedCheck != want {
		wrong("binarytrees", "check of the long-lived tree", longLivedCheck, want)
	}
	return fmt.Sprintf("binarytrees ms=%.1f peak_rss_mib=%.1f num_gc=%d",
		float64(el.Nanoseconds())/1e6, float64(hwm)/mib, gc1-gc0)
}

// alloc16_gc, alloc64_gc: a ring of the last 1024 objects, each linked to
// the one before; the oldest's link is cut as each new object comes.  The
// rings are package variables, so that they are heap arrays, as in gc.c.
const (
	warmup  = 10000
	ringLen = 1024
)

type pair struct {
	a, b *pair
}

var (
	ring16 *[ringLen]*pair
	ring64 *[ringLen]*obj64
)

// alloc16Loop makes allocations i0 .. i0+n-1.
func alloc16Loop(i0, n int64) {
	ring := ring16
	for i := i0; i < i0+n; i++ {
		p := new(pair)
		if oldest := ring[(i+1)&(ringLen-1)]; oldest != nil {
			oldest.a = nil
		}
		p.a = ring[(i-1)&(ringLen-1)]
		ring[i&(ringLen-1)] = p
	}
}

func alloc64Loop(i0, n int64) {
	ring := ring64
	for i := i0; i < i0+n; i++ {
		p := new(obj64)
		p.x = i
		if oldest := ring[(i+1)&(ringLen-1)]; oldest != nil {
			oldest.a = nil
		}
		p.a = ring[(i-1)&(ringLen-1)]
		ring[i&(ringLen-1)] = p
	}
}

// alloc16Verify checks the ring after allocation end-1; back counts from
// the newest object.
func alloc16Verify(end int64) {
	p := ring16[(end-1)&(ringLen-1)]
	for back := int64(0); back < ringLen; back++ {
		if p != ring16[(end-1-back)&(ringLen-1)] {
			broken("alloc16_gc", "object %d back from the newest is not the one in its slot", back)
		}
		if p.b != nil {
			broken("alloc16_gc", "field b of object %d back from the newest is not zero", back)
		}
		p = p.a
	}
	if p != nil {
		broken("alloc16_gc", "the oldest object in the ring still links to an older one")
	}
}

func alloc64Verify(end int64) {
	p := ring64[(end-1)&(ringLen-1)]
	for back := int64(0); back < ringLen; back++ {
		if p != ring64[(end-1-back)&(ringLen-1)] {
			broken("alloc64_gc", "object %d back from the newest is not the one in its slot", back)
		}
		if p.x != end-1-back {
			wrong("alloc64_gc", "field x of an object in the ring", p.x, end-1-back)
		}
		if p.b != nil || p.c != nil || p.y[3] != 0 {
			broken("alloc64_gc", "field b, c or y[3] of object %d back from the newest is not zero", back)
		}
		p = p.a
	}
	if p != nil {
		broken("alloc64_gc", "the oldest object in the ring still links to an older one")
	}
}

func alloc16GC() string {
	ring16 = new([ringLen]*pair)
	alloc16Loop(0, warmup)
	gc0 := readMemStats().NumGC
	t0 := time.Now()
	alloc16Loop(warmup, nOps)
	el := time.Since(t0)
	gc1 := readMemStats().NumGC

	alloc16Verify(warmup + nOps)
	return fmt.Sprintf("alloc16_gc ns_per_op=%.1f num_gc=%d", float64(el.Nanoseconds())/float64(nOps), gc1-gc0)
}

func alloc64GC() string {
	ring64 = new([ringLen]*obj64)
	alloc64Loop(0, warmup)
	gc0 := readMemStats().NumGC
	t0 := time.Now()
	alloc64Loop(warmup, nOps)
	el := time.Since(t0)
	gc1 := readMemStats().NumGC

	alloc64Verify(warmup + nOps)
	return fmt.Sprintf("alloc64_gc ns_per_op=%.1f num_gc=%d", float64(el.Nanoseconds())/float64(nOps), gc1-gc0)
}

// pause: 2^23 live obj64 nodes from one array, churned until CYCLES
// collections have ended; the pauses come from MemStats.PauseNs, which
// holds, per cycle, the sum of its two stop-the-world pauses.
const (
	pauseNodes        = 1 << 23
	pausePoll         = 1 << 20
	pauseReplaceEvery = 16
	pauseMaxCycles    = 250
)

var (
	pauseLive []*obj64 // pauseNodes slots
	pauseSink *[ringLen]*obj64
)

// xorshift64*, the same sequence in gc.c.
var xorshiftState uint64 = 0x9e3779b97f4a7c15

func xorshift() uint64 {
	x := xorshiftState
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	xorshiftState = x
	return x * 0x2545f4914f6cdd1d
}

func pauseBuild() {
	pauseLive = make([]*obj64, pauseNodes)
	pauseSink = new([ringLen]*obj64)
	live := pauseLive
	for i := int64(0); i < pauseNodes; i++ {
		p := new(obj64)
		p.x = i
		if i > 0 {
			p.a = live[i-1]
		}
		live[i] = p
	}
	live[0].a = live[pauseNodes-1]
}

// pauseChurn runs churn steps s0 .. s0+n-1.
func pauseChurn(s0, n int64) {
	live, sink := pauseLive, pauseSink
	for s := s0; s < s0+n; s++ {
		g := new(obj64)
		g.x = -1 - s
		sink[s&(ringLen-1)] = g
		if s%pauseReplaceEvery == 0 {
			r := int64(xorshift() & (pauseNodes - 1))
			p := new(obj64)
			p.x = r
			p.a = live[(r-1)&(pauseNodes-1)]
			live[(r+1)&(pauseNodes-1)].a = p
			live[r] = p
		}
	}
}

func pauseVerify(steps int64) {
	live, sink := pauseLive, pauseSink
	for i := int64(0); i < pauseNodes; i++ {
		p := live[i]
		if p.x != i {
			wrong("pause", "field x of the live node in its slot", p.x, i)
		}
		if p.a != live[(i-1)&(pauseNodes-1)] {
			broken("pause", "the live node in slot %d does not link to the node in the slot before", i)
		}
		if p.b != nil || p.c != nil || p.y[3] != 0 {
			broken("pause", "field b, c or y[3] of the live node in slot %d is not zero", i)
		}
	}
	s := int64(0)
	if steps > ringLen {
		s = steps - ringLen
	}
	for ; s < steps; s++ {
		if g := sink[s&(ringLen-1)]; g.x != -1-s {
			wrong("pause", "field x of a short-lived object", g.x, -1-s)
		}
	}
}

func pause() string {
	if nOps > pauseMaxCycles {
		badArg("pause", "CYCLES", 1, pauseMaxCycles)
	}
	pauseBuild()
	runtime.GC()
	gc0 := readMemStats().NumGC

	steps := int64(0)
	for {
		pauseChurn(steps, pausePoll)
		steps += pausePoll
		ms := readMemStats()
		if int64(ms.NumGC-gc0) >= nOps {
			break
		}
		if ms.HeapAlloc > 2*ms.NextGC {
			fatalf("pause: the heap is %d MiB, over twice its goal of %d MiB, after %d of %d "+
				"collections: is automatic collection running?",
				ms.HeapAlloc>>20, ms.NextGC>>20, ms.NumGC-gc0, nOps)
		}
	}

	ms := readMemStats()
	cycles := ms.NumGC - gc0
	kept := cycles
	if kept > 256 {
		kept = 256
	}
	pauses := make([]int64, kept)
	for k := uint32(0); k < kept; k++ {
		pauses[k] = int64(ms.PauseNs[(ms.NumGC-kept+k)%256])
	}
	sortInt64(pauses)

	pauseVerify(steps)
	return fmt.Sprintf("pause pause_p50_us=%.1f pause_max_us=%.1f num_gc=%d",
		float64(pauses[(kept-1)/2])/1e3, float64(pauses[kept-1])/1e3, cycles)
}

// freeosmemory: a burst of 64 KiB pointer-free objects, one word of each
// 4 KiB page written, allocated and dropped by a goroutine that has ended
// when debug.FreeOSMemory() is timed (as in gc.c, where it matters).
const (
	burstObjWords = 8192 // 64 KiB
	pageWords     = 512  // 4 KiB
)

type burstObj [burstObjWords]int64

var (
	burst   []*burstObj
	burstWG sync.WaitGroup
)

func freeosmemoryBurst(count int64) {
	burst = make([]*burstObj, count)
	slots := burst
	for i := int64(0); i < count; i++ {
		b := new(burstObj)
		for w := 0; w < burstObjWords; w += pageWords {
			b[w] = i
		}
		slots[i] = b
	}
	for i := int64(0); i < count; i++ {
		for w := 0; w < burstObjWords; w += pageWords {
			if slots[i][w] != i {
				wrong("freeosmemory", "word of a burst object (its number)", slots[i][w], i)
			}
		}
	}
	burst = nil
	burstWG.Done()
}

func freeosmemory() string {
	if nOps > 1<<20 {
		badArg("freeosmemory", "MIB", 1, 1<<20)
	}
	count := nOps * (mib / (burstObjWords * 8))
	burstWG.Add(1)
	go freeosmemoryBurst(count)
	burstWG.Wait()

	rss0 := procStatusBytes("VmRSS")
	t0 := time.Now()
	debug.FreeOSMemory()
	el := time.Since(t0)
	rss1 := procStatusBytes("VmRSS")
	return fmt.Sprintf("freeosmemory ms=%.2f rss_before_mib=%.1f rss_after_mib=%.1f",
		float64(el.Nanoseconds())/1e6, float64(rss0)/mib, float64(rss1)/mib)
}

// markcost: SIZE_MB MB of obj64 nodes in one binary tree built depth
// first, each node linked (a) to the one built before it; one untimed
// runtime.GC, then 3 timed by process CPU.
const markcostRuns = 3

var markcostRoot *obj64

// markcostCursor is where the depth-first build or walk has got to.
type markcostCursor struct {
	count int64  // nodes so far
	prev  *obj64 // the last of them
}

func markcostBuild(cur *markcostCursor, n int64) *obj64 {
	if n == 0 {
		return nil
	}
	p := new(obj64)
	p.x = cur.count
	cur.count++
	p.a = cur.prev
	cur.prev = p
	nleft := (n - 1) / 2
	p.b = markcostBuild(cur, nleft)
	p.c = markcostBuild(cur, n-1-nleft)
	return p
}

func markcostVerify(cur *markcostCursor, p *obj64, n int64) {
	if n == 0 {
		if p != nil {
			broken("markcost", "after node %d, a subtree that should be empty is not", cur.count-1)
		}
		return
	}
	if p == nil {
		broken("markcost", "after node %d, a subtree of %d nodes is empty", cur.count-1, n)
	}
	if p.x != cur.count {
		wrong("markcost", "field x of a node (its number, depth first)", p.x, cur.count)
	}
	if p.a != cur.prev {
		broken("markcost", "node %d does not link to the node built before it", p.x)
	}
	if p.y[3] != 0 {
		wrong("markcost", "field y[3] of a node", p.y[3], 0)
	}
	cur.count++
	cur.prev = p
	nleft := (n - 1) / 2
	markcostVerify(cur, p.b, nleft)
	markcostVerify(cur, p.c, n-1-nleft)
}

func markcost() string {
	if nOps > 1<<20 {
		badArg("markcost", "SIZE_MB", 1, 1<<20)
	}
	nodes := nOps * (mib / 64)
	var build markcostCursor
	markcostRoot = markcostBuild(&build, nodes)
	runtime.GC()

	var cpu, wall [markcostRuns]int64
	for r := 0; r < markcostRuns; r++ {
		c0, t0 := processCPU(), time.Now()
		runtime.GC()
		el, c1 := time.Since(t0), processCPU()
		cpu[r] = c1 - c0
		wall[r] = el.Nanoseconds()
	}
	sortInt64(cpu[:])
	sortInt64(wall[:])

	var walk markcostCursor
	markcostVerify(&walk, markcostRoot, nodes)
	med := cpu[markcostRuns/2]
	return fmt.Sprintf("markcost cpu_ms_per_gc=%.1f cpu_us_per_mb=%.1f wall_ms_per_gc=%.1f",
		float64(med)/1e6, float64(med)/1e3/float64(nOps), float64(wall[markcostRuns/2])/1e6)
}

var workloads = []harness.Workload{
	{Name: "binarytrees", Run: binarytrees, DefaultN: 18},
	{Name: "alloc16_gc", Run: alloc16GC, DefaultN: 20000000},
	{Name: "alloc64_gc", Run: alloc64GC, DefaultN: 10000000},
	{Name: "pause", Run: pause, DefaultN: 10},
	{Name: "freeosmemory", Run: freeosmemory, DefaultN: 1024},
	{Name: "markcost", Run: markcost, DefaultN: 100},
}

func fatalf(format string, args ...interface{}) {
	harness.Fatalf("go-gc", format, args...)
}

func main() {
	// 2^40 is far beyond any run that fits in memory.
	harness.Main("go-gc", workloads, &nOps, 1<<40)
}
