// spawn_join: start N goroutines that return at once, wait for all (WaitGroup);
// ns per goroutine, median of 5 runs. Peer of benches/benches/sched_spawn_join.rs.
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

func main() {
	n := 1000000
	if v, err := strconv.Atoi(os.Getenv("GORO_BENCH_N")); err == nil {
		n = v
	}
	var runs []float64
	for r := 0; r < 5; r++ {
		var wg sync.WaitGroup
		t := time.Now()
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { wg.Done() }()
		}
		wg.Wait()
		runs = append(runs, float64(time.Since(t).Nanoseconds())/float64(n))
	}
	sort.Float64s(runs)
	fmt.Printf("spawn_join %.1f ns/goroutine\n", runs[len(runs)/2])
}
