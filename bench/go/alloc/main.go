// Command alloc is bench/alloc.c written in Go: the same workloads, the same
// arguments and the same result line, so that bench/compare.sh can put gort
// and Go side by side.
//
//	go-alloc WORKLOAD [N]       (ptr16, ptr64, noscan8, alloc4k)
//
// prints exactly one line on stdout, the workload's name followed by
// key=value pairs:
//
//	ptr16 ns_per_op=12.3
//
// The collector is off (debug.SetGCPercent(-1) before anything else), as it
// is in gort, which has none yet: both sides measure allocation and heap
// growth, never a collection.  Every object is stored in a package-level
// ring of 1024 sinks, so that it escapes to the heap, and one word of it is
// written; after the clock stops the objects are checked as alloc.c checks
// them, and a wrong one fails the run with exit status 1.  Each workload
// warms up with 10,000 allocations of its kind before the clock starts.
//
// Keep it doing the same work, step for step, as alloc.c.  Standard library
// only: the benchmarks must build without network access.
package main

import (
	"fmt"
	"gortbench/harness"
	"runtime/debug"
	"time"
)

var nOps int64

const (
	warmup  = 10000
	sinkLen = 1024
)

// wrong reports a failed check: the heap gave overlapping memory.
func wrong(workload, what string, got, want int64) {
	fatalf("%s: %s is %d, want %d", workload, what, got, want)
}

// notZeroed reports an object with a non-zero word where nothing was
// written; back counts the objects from the last one allocated (0).
func notZeroed(workload, what string, back int64) {
	fatalf("%s: %s is not zero in object %d, counting back from the last", workload, what, back)
}

func result(workload string, el time.Duration) string {
	return fmt.Sprintf("%s ns_per_op=%.1f", workload, float64(el.Nanoseconds())/float64(nOps))
}

// ptr16: new(pair), 16 bytes of two pointers, size class 16, scanned (Go's
// tiny allocator takes pointer-free objects only).  Field a is set to the
// previous object.
type pair struct {
	a, b *pair
}

var sink16 [sinkLen]*pair

func ptr16Loop(n int64) *pair {
	var prev *pair
	for i := int64(0); i < n; i++ {
		p := new(pair)
		p.a = prev
		sink16[i&(sinkLen-1)] = p
		prev = p
	}
	return prev
}

func ptr16() string {
	ptr16Loop(warmup)
	t0 := time.Now()
	last := ptr16Loop(nOps)
	el := time.Since(t0)

	count := int64(0)
	for p := last; p != nil && count <= nOps; p, count = p.a, count+1 {
		if p.b != nil {
			notZeroed("ptr16", "field b", count)
		}
	}
	if count != nOps {
		wrong("ptr16", "length of the chain of objects", count, nOps)
	}
	return result("ptr16", el)
}

// ptr64: new(obj64), 64 bytes with pointers at offsets 0, 8 and 24 and
// integers in between and after, size class 64.  Field a is set to the
// previous object.
type obj64 struct {
	a *obj64   // offset 0
	b *obj64   // 8
	x int64    // 16
	c *obj64   // 24
	y [4]int64 // 32..63
}

var sink64 [sinkLen]*obj64

func ptr64Loop(n int64) *obj64 {
	var prev *obj64
	for i := int64(0); i < n; i++ {
		p := new(obj64)
		p.a = prev
		sink64[i&(sinkLen-1)] = p
		prev = p
	}
	return prev
}

func ptr64() string {
	ptr64Loop(warmup)
	t0 := time.Now()
	last := ptr64Loop(nOps)
	el := time.Since(t0)

	count := int64(0)
	for p := last; p != nil && count <= nOps; p, count = p.a, count+1 {
		if p.b != nil || p.x != 0 || p.c != nil || p.y[3] != 0 {
			notZeroed("ptr64", "field b, x, c or y[3]", count)
		}
	}
	if count != nOps {
		wrong("ptr64", "length of the chain of objects", count, nOps)
	}
	return result("ptr64", el)
}

// noscan8: new(int64), a pointer-free object under 16 bytes, which
// mallocgc packs two to a 16-byte tiny block, as gort_alloc_noscan(8)
// does.  The object gets the value i; afterwards the last 1024 objects must
// still hold theirs.
var sink8 [sinkLen]*int64

func noscan8Loop(n int64) {
	for i := int64(0); i < n; i++ {
		p := new(int64)
		*p = i
		sink8[i&(sinkLen-1)] = p
	}
}

func noscan8() string {
	noscan8Loop(warmup)
	t0 := time.Now()
	noscan8Loop(nOps)
	el := time.Since(t0)

	i := int64(0)
	if nOps > sinkLen {
		i = nOps - sinkLen
	}
	for ; i < nOps; i++ {
		if v := *sink8[i&(sinkLen-1)]; v != i {
			wrong("noscan8", "value of a recent object", v, i)
		}
	}
	return result("noscan8", el)
}

// alloc4k: make([]*block4k, 512), 512 pointer words in the 4096-byte size
// class, set against gort_alloc(4096).  The element type points to a whole
// block so that word 0 can hold the previous block, as in alloc.c; the
// conversion of the slice to *block4k is a length check, no copy.
const blockWords = 512

type block4k [blockWords]*block4k

var sink4k [sinkLen]*block4k

func alloc4kLoop(n int64) *block4k {
	var prev *block4k
	for i := int64(0); i < n; i++ {
		s := make([]*block4k, blockWords)
		s[0] = prev
		b := (*block4k)(s)
		sink4k[i&(sinkLen-1)] = b
		prev = b
	}
	return prev
}

func alloc4k() string {
	alloc4kLoop(warmup)
	t0 := time.Now()
	last := alloc4kLoop(nOps)
	el := time.Since(t0)

	count := int64(0)
	for b := last; b != nil && count <= nOps; b, count = b[0], count+1 {
		if b[1] != nil || b[blockWords-1] != nil {
			notZeroed("alloc4k", "word 1 or 511", count)
		}
	}
	if count != nOps {
		wrong("alloc4k", "length of the chain of blocks", count, nOps)
	}
	return result("alloc4k", el)
}

var workloads = []harness.Workload{
	{Name: "ptr16", Run: ptr16, DefaultN: 5000000},
	{Name: "ptr64", Run: ptr64, DefaultN: 5000000},
	{Name: "noscan8", Run: noscan8, DefaultN: 10000000},
	{Name: "alloc4k", Run: alloc4k, DefaultN: 100000},
}

func fatalf(format string, args ...interface{}) {
	harness.Fatalf("go-alloc", format, args...)
}

func main() {
	// The collector is off on both sides (gort_set_gc_percent(-1)): each
	// measures its allocation path alone.
	debug.SetGCPercent(-1)

	// 2^40 is far beyond any run that fits in memory.
	harness.Main("go-alloc", workloads, &nOps, 1<<40)
}
