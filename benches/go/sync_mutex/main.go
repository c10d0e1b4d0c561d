// sync scenarios in Go 1.19, peers of benches/benches/sync_mutex.rs: 4 goroutines,
// default GOMAXPROCS; ns per operation, median of 5 runs.
//
//	mutex_contended: one shared sync.Mutex, lock + increment + unlock.
//	rwmutex_read_heavy: one shared sync.RWMutex, 1 op in 100 writes.
//	rwmutex_read_only: one shared sync.RWMutex, reads only.
//	mutex_uncontended: each goroutine has its own padded sync.Mutex.
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

const workers = 4

func timed(work func(w int)) time.Duration {
	var wg sync.WaitGroup
	t := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			work(w)
		}(w)
	}
	wg.Wait()
	return time.Since(t)
}

func median(n int, f func() time.Duration) float64 {
	var runs []float64
	for r := 0; r < 5; r++ {
		runs = append(runs, float64(f().Nanoseconds())/float64(n))
	}
	sort.Float64s(runs)
	return runs[len(runs)/2]
}

type padded struct {
	mu sync.Mutex
	v  uint64
	_  [112]byte
}

var sink uint64

func main() {
	n := 4000000
	if v, err := strconv.Atoi(os.Getenv("GORO_BENCH_N")); err == nil {
		n = v
	}
	per := n / workers

	ns := median(n, func() time.Duration {
		var mu sync.Mutex
		var v uint64
		return timed(func(int) {
			for i := 0; i < per; i++ {
				mu.Lock()
				v++
				mu.Unlock()
			}
		})
	})
	fmt.Printf("mutex_contended %.1f ns/op\n", ns)

	for _, sc := range []struct {
		name  string
		every int
	}{{"rwmutex_read_heavy", 100}, {"rwmutex_read_only", 0}} {
		every := sc.every
		ns = median(n, func() time.Duration {
			var mu sync.RWMutex
			var v uint64
			return timed(func(int) {
				var local uint64
				for i := 0; i < per; i++ {
					if every != 0 && i%every == 0 {
						mu.Lock()
						v++
						mu.Unlock()
					} else {
						mu.RLock()
						local += v
						mu.RUnlock()
					}
				}
				sink += local
			})
		})
		fmt.Printf("%s %.1f ns/op\n", sc.name, ns)
	}

	ns = median(n, func() time.Duration {
		ms := make([]padded, workers)
		return timed(func(w int) {
			m := &ms[w]
			for i := 0; i < per; i++ {
				m.mu.Lock()
				m.v++
				m.mu.Unlock()
			}
		})
	})
	fmt.Printf("mutex_uncontended %.1f ns/op\n", ns)
}
