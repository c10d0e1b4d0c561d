// syscall_handoff: GOMAXPROCS=1, a goroutine calling runtime.Gosched in a loop and
// counting its iterations; its rate while another goroutine is in one blocking
// nanosleep(2) of W = 200 ms, as % of its undisturbed rate over the W just before, and
// its longest stall from the end of that window to the end of the call (the clock is
// read every 1024 iterations). Medians of 5 runs. Go's sysmon retakes the P of a
// goroutine in a syscall when other work waits. Peer of
// benches/benches/sched_preempt.rs (syscall_handoff).
//
// The yielder times the undisturbed window itself (a clock read every 1024
// iterations) while the main goroutine waits on a channel: had main slept in
// time.Sleep instead, its pending timer would tax every schedule of the baseline (a
// clock read per scheduling round) but not the syscall window, which measured as
// 130-140 % of that baseline here.
package main

import (
	"fmt"
	"runtime"
	"sort"
	"sync/atomic"
	"syscall"
	"time"
)

// nanosleep sleeps d in nanosleep(2) (a raw syscall: entersyscall/exitsyscall),
// resuming after EINTR.
func nanosleep(d time.Duration) {
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	for {
		var rem syscall.Timespec
		if err := syscall.Nanosleep(&ts, &rem); err != syscall.EINTR {
			return
		}
		ts = rem
	}
}

// run returns the yielder's rate during the syscall as % of its undisturbed rate, and
// its longest stall after the undisturbed window in ms.
func run(w time.Duration) (float64, float64) {
	var count int64
	var stop atomic.Bool
	var stall time.Duration // written by the yielder before close(done)
	baseline := make(chan float64, 1)
	done := make(chan struct{})
	go func() {
		start := time.Now()
		var c0 int64
		var t0 time.Time
		var last time.Time // after the undisturbed window: the last checkpoint
		for n := int64(1); !stop.Load(); n++ {
			runtime.Gosched()
			atomic.StoreInt64(&count, n)
			if n%1024 != 0 {
				continue
			}
			now := time.Now()
			if !last.IsZero() {
				if now.Sub(last) > stall {
					stall = now.Sub(last)
				}
				last = now
				continue
			}
			if t0.IsZero() && now.Sub(start) >= 20*time.Millisecond {
				c0, t0 = n, now
			} else if !t0.IsZero() && now.Sub(t0) >= w {
				baseline <- float64(n-c0) / float64(now.Sub(t0))
				last = now
			}
		}
		close(done)
	}()
	base := <-baseline
	res := make(chan float64)
	go func() {
		c0, t0 := atomic.LoadInt64(&count), time.Now()
		nanosleep(w)
		c1, t1 := atomic.LoadInt64(&count), time.Now()
		res <- float64(c1-c0) / float64(t1.Sub(t0))
	}()
	during := <-res
	stop.Store(true)
	<-done
	return 100 * during / base, float64(stall) / 1e6
}

func main() {
	runtime.GOMAXPROCS(1)
	var pct, stall []float64
	for r := 0; r < 5; r++ {
		p, s := run(200 * time.Millisecond)
		pct = append(pct, p)
		stall = append(stall, s)
	}
	fmt.Printf("syscall_pct %.1f %%\n", median(pct))
	fmt.Printf("syscall_stall %.3f ms\n", median(stall))
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}
