// preempt_latency: GOMAXPROCS=1, a goroutine spinning in a call-free loop beside the
// main goroutine, which sleeps 1 ms over and over for T = 2 s; lateness of each wake-up
// (actual sleep minus 1 ms) p50/p99/max in ms and the number of wake-ups, medians of 5
// runs. Peer of benches/benches/sched_preempt.rs (preempt_latency).
package main

import (
	"fmt"
	"runtime"
	"sort"
	"sync/atomic"
	"time"
)

// sink keeps the spinner's counter alive.
var sink int64

func pct(v []float64, p float64) float64 {
	return v[int(float64(len(v)-1)*p)]
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

// run returns the sorted lateness of every wake-up, in ms.
func run(d time.Duration) []float64 {
	var stop atomic.Bool
	done := make(chan int64)
	go func() {
		x := int64(0)
		for !stop.Load() {
			x++
		}
		done <- x
	}()
	var late []float64
	start := time.Now()
	for time.Since(start) < d {
		t := time.Now()
		time.Sleep(time.Millisecond)
		late = append(late, float64(time.Since(t)-time.Millisecond)/1e6)
	}
	stop.Store(true)
	sink += <-done
	sort.Float64s(late)
	return late
}

func main() {
	runtime.GOMAXPROCS(1)
	var p50, p99, max, n []float64
	for r := 0; r < 5; r++ {
		late := run(2 * time.Second)
		p50 = append(p50, pct(late, 0.5))
		p99 = append(p99, pct(late, 0.99))
		max = append(max, pct(late, 1))
		n = append(n, float64(len(late)))
	}
	fmt.Printf("preempt_p50 %.3f ms\n", median(p50))
	fmt.Printf("preempt_p99 %.3f ms\n", median(p99))
	fmt.Printf("preempt_max %.3f ms\n", median(max))
	fmt.Printf("preempt_wakeups %.0f count\n", median(n))
}
