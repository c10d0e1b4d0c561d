// park_1m: create N goroutines that all block on a channel; creation ns per goroutine,
// (VmRSS + VmPTE) bytes per goroutine, new mappings per goroutine.
// Peer of benches/benches/sched_park_1m.rs.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func statusBytes(field string) int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v * 1024
		}
	}
	return 0
}

func mappings() int {
	b, _ := os.ReadFile("/proc/self/maps")
	return strings.Count(string(b), "\n")
}

func main() {
	runtime.GOMAXPROCS(2)
	n := 1000000
	if v, err := strconv.Atoi(os.Getenv("GORO_BENCH_N")); err == nil {
		n = v
	}
	gate := make(chan struct{})
	var parked sync.WaitGroup
	var done sync.WaitGroup
	mem0 := statusBytes("VmRSS:") + statusBytes("VmPTE:")
	maps0 := mappings()
	t := time.Now()
	for i := 0; i < n; i++ {
		parked.Add(1)
		done.Add(1)
		go func() {
			parked.Done()
			<-gate
			done.Done()
		}()
	}
	created := time.Since(t)
	parked.Wait()
	time.Sleep(10 * time.Millisecond)
	mem1 := statusBytes("VmRSS:") + statusBytes("VmPTE:")
	maps1 := mappings()
	fmt.Printf("park_1m_create %.1f ns/goroutine\n", float64(created.Nanoseconds())/float64(n))
	fmt.Printf("park_1m_mem %.1f bytes/goroutine\n", float64(mem1-mem0)/float64(n))
	fmt.Printf("park_1m_maps %.1f mappings/goroutine\n", float64(maps1-maps0)/float64(n))
	close(gate)
	done.Wait()
}
