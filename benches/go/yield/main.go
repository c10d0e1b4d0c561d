// yield: two goroutines on one P (GOMAXPROCS=1) call runtime.Gosched N times each;
// ns per yield, median of 5 runs. Peer of benches/benches/sched_yield.rs.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"
)

func main() {
	runtime.GOMAXPROCS(1)
	n := 2000000
	if v, err := strconv.Atoi(os.Getenv("GORO_BENCH_N")); err == nil {
		n = v
	}
	var runs []float64
	for r := 0; r < 5; r++ {
		done := make(chan struct{})
		t := time.Now()
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			close(done)
		}()
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
		<-done
		runs = append(runs, float64(time.Since(t).Nanoseconds())/float64(2*n))
	}
	sort.Float64s(runs)
	fmt.Printf("yield %.1f ns/yield\n", runs[len(runs)/2])
}
