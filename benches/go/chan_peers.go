// Go peers of goro's channel benches (benches/benches/chan_*.rs), same scenarios and
// output format (`name value unit`). Run: go run benches/go/chan_peers.go [scenario]
// with scenario one of pingpong, spsc, mpmc, select2, timers (default: all).
package main

import (
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"
)

func median(runs int, per int, f func() time.Duration) float64 {
	v := make([]float64, runs)
	for i := range v {
		v[i] = float64(f().Nanoseconds()) / float64(per)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func pingpong(procs, n int) float64 {
	old := runtime.GOMAXPROCS(procs)
	defer runtime.GOMAXPROCS(old)
	return median(5, n, func() time.Duration {
		ping, pong := make(chan int), make(chan int)
		go func() {
			for v := range ping {
				pong <- v + 1
			}
		}()
		t := time.Now()
		for i := 0; i < n; i++ {
			ping <- i
			<-pong
		}
		e := time.Since(t)
		close(ping)
		return e
	})
}

func buffered(p, c, n int) float64 {
	return median(5, n, func() time.Duration {
		ch := make(chan int, 128)
		per := n / p
		t := time.Now()
		var pw, cw sync.WaitGroup
		for i := 0; i < p; i++ {
			pw.Add(1)
			go func() {
				defer pw.Done()
				for j := 0; j < per; j++ {
					ch <- j
				}
			}()
		}
		for i := 0; i < c; i++ {
			cw.Add(1)
			go func() {
				defer cw.Done()
				for range ch {
				}
			}()
		}
		pw.Wait()
		close(ch)
		cw.Wait()
		return time.Since(t)
	})
}

func select2(cap, n int) float64 {
	return median(5, n, func() time.Duration {
		a, b := make(chan int, cap), make(chan int, cap)
		t := time.Now()
		for _, ch := range []chan int{a, b} {
			go func(ch chan int) {
				for i := 0; i < n/2; i++ {
					ch <- i
				}
			}(ch)
		}
		sum := 0
		for i := 0; i < n/2*2; i++ {
			select {
			case v := <-a:
				sum += v
			case v := <-b:
				sum += v
			}
		}
		_ = sum
		return time.Since(t)
	})
}

func timers(n int, useAfter bool) []int64 {
	late := make([]int64, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		d := time.Duration(rand.Int63n(10000)) * time.Microsecond
		wg.Add(1)
		go func(i int, d time.Duration) {
			defer wg.Done()
			t := time.Now()
			if useAfter {
				<-time.After(d)
			} else {
				time.Sleep(d)
			}
			late[i] = int64((time.Since(t) - d) / time.Microsecond)
		}(i, d)
	}
	wg.Wait()
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	return late
}

func main() {
	which := "all"
	if len(os.Args) > 1 {
		which = os.Args[1]
	}
	on := func(s string) bool { return which == "all" || which == s }
	if on("pingpong") {
		fmt.Printf("pingpong_unbuffered/procs1 %.1f ns/roundtrip\n", pingpong(1, 500000))
		fmt.Printf("pingpong_unbuffered/procs2 %.1f ns/roundtrip\n", pingpong(2, 500000))
	}
	if on("spsc") {
		fmt.Printf("chan_buffered/spsc %.1f ns/msg\n", buffered(1, 1, 2000000))
	}
	if on("mpmc") {
		fmt.Printf("chan_buffered/mpmc4x4 %.1f ns/msg\n", buffered(4, 4, 2000000))
	}
	if on("select2") {
		fmt.Printf("select2/unbuffered %.1f ns/msg\n", select2(0, 1000000))
		fmt.Printf("select2/cap128 %.1f ns/msg\n", select2(128, 1000000))
	}
	if on("timers") {
		for _, c := range []struct {
			name  string
			after bool
		}{{"timers/sleep", false}, {"timers/after", true}} {
			late := timers(100000, c.after)
			pct := func(p float64) int64 { return late[int(float64(len(late)-1)*p)] }
			fmt.Printf("%s/p50 %d us_late\n%s/p99 %d us_late\n%s/max %d us_late\n",
				c.name, pct(0.5), c.name, pct(0.99), c.name, pct(1))
		}
	}
}
