// SPDX-License-Identifier: GPL-2.0
//
// Go's side of the scheduler benchmarks: the same workloads as
// gmp_bench.c, with the same semantics. Usage: go_bench WORKLOAD N
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func perOp(t time.Time, n int) float64 {
	return float64(time.Since(t).Nanoseconds()) / float64(n)
}

func spawn(n int) float64 {
	var wg sync.WaitGroup
	wg.Add(n)
	t := time.Now()
	for i := 0; i < n; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	return perOp(t, n)
}

func yield(n int) float64 {
	var wg sync.WaitGroup
	wg.Add(2)
	t := time.Now()
	for g := 0; g < 2; g++ {
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return perOp(t, 2*n)
}

// parkready: an unbuffered channel round trip, Go's park/ready pair.
func parkready(n int) float64 {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			pong <- <-ping
		}
	}()
	t := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	return perOp(t, n)
}

// chan: parkready's round trip over two unbuffered channels, for the
// row beside kgo's channels.
func chanPingPong(n int) float64 {
	return parkready(n)
}

// selectPingPong: pings alternate between two channels; the ponger
// selects over both.
func selectPingPong(n int) float64 {
	ping := [2]chan int{make(chan int), make(chan int)}
	pong := make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			var v int
			select {
			case v = <-ping[0]:
			case v = <-ping[1]:
			}
			pong <- v
		}
	}()
	t := time.Now()
	for i := 0; i < n; i++ {
		ping[i&1] <- i
		<-pong
	}
	return perOp(t, n)
}

// daisy: the daisy chain, per goroutine (gmp_bench.c).
func daisy(n int) float64 {
	t := time.Now()
	leftmost := make(chan int)
	left := leftmost
	for i := 0; i < n; i++ {
		right := make(chan int)
		go func(l, r chan int) { l <- 1 + <-r }(left, right)
		left = right
	}
	left <- 1
	if <-leftmost != n+1 {
		return -1
	}
	return perOp(t, n)
}

// pool: one worker per P over n jobs on a channel of capacity 128.
func pool(n int) float64 {
	t := time.Now()
	jobs := make(chan int, 128)
	var wg sync.WaitGroup
	var total int64
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			var sum int64
			for j := range jobs {
				sum += int64(j)
			}
			atomic.AddInt64(&total, sum)
			wg.Done()
		}()
	}
	for i := 1; i <= n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if total != int64(n)*int64(n+1)/2 {
		return -1
	}
	return perOp(t, n)
}

// preempt: two goroutines spin for n ms on one P; stints are found from
// gaps of more than 200 us between two clock readings (gmp_bench.c).
type stint struct {
	start, end int64
	g          int
}

func preempt(n int) {
	var mu sync.Mutex
	var stints []stint
	var wg sync.WaitGroup
	base := time.Now()
	wg.Add(2)
	for g := 0; g < 2; g++ {
		go func(g int) {
			var mine []stint
			t0 := int64(time.Since(base))
			start, prev := t0, t0
			for {
				t := int64(time.Since(base))
				if t-t0 >= int64(n)*1000000 {
					break
				}
				if t-prev > 200000 {
					mine = append(mine, stint{start, prev, g})
					start = t
				}
				prev = t
			}
			mu.Lock()
			stints = append(stints, mine...)
			mu.Unlock()
			wg.Done()
		}(g)
	}
	wg.Wait()
	sort.Slice(stints, func(i, j int) bool { return stints[i].start < stints[j].start })
	// One goroutine's run: its stints until the other's next one.
	var runs []stint
	for _, st := range stints {
		if len(runs) > 0 && runs[len(runs)-1].g == st.g {
			runs[len(runs)-1].end = st.end
		} else {
			runs = append(runs, st)
		}
	}
	var lat, cost []float64
	for i := 2; i+1 < len(runs); i++ {
		lat = append(lat, float64(runs[i+1].start-runs[i].start-10000000))
		cost = append(cost, float64(runs[i+1].start-runs[i].end))
	}
	if len(lat) == 0 {
		os.Exit(1)
	}
	sort.Float64s(lat)
	sort.Float64s(cost)
	fmt.Printf("preemptlat50 %.1f\n", lat[len(lat)/2]/1e3)
	fmt.Printf("preemptlat99 %.1f\n", lat[len(lat)*99/100]/1e3)
	fmt.Printf("preemptcost %.1f\n", cost[len(cost)/2])
}

// handoff: on one P, a goroutine sleeps 1 ms in a raw nanosleep(2) (a
// real system call: not a timer) n times while another is runnable; the
// latency is the sleep called to the other one running, which only a
// hand-off of the P (sysmon's retake) or the sleep's end allows.
func handoff(n int) {
	block := make([]int64, n)
	lat := make([]float64, n)
	var round, seen int64 = -1, -1
	base := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		ts := syscall.Timespec{Nsec: 1000000}
		for i := 0; i < n; i++ {
			for atomic.LoadInt64(&seen) != int64(i-1) {
				runtime.Gosched()
			}
			block[i] = int64(time.Since(base))
			atomic.StoreInt64(&round, int64(i))
			syscall.Nanosleep(&ts, nil)
		}
		wg.Done()
	}()
	go func() {
		for i := 0; i < n; i++ {
			for atomic.LoadInt64(&round) != int64(i) {
				runtime.Gosched()
			}
			lat[i] = float64(int64(time.Since(base)) - block[i])
			atomic.StoreInt64(&seen, int64(i))
		}
		wg.Done()
	}()
	wg.Wait()
	sort.Float64s(lat)
	fmt.Printf("handofflat50 %.1f\n", lat[n/2]/1e3)
	fmt.Printf("handofflat99 %.1f\n", lat[n*99/100]/1e3)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_bench spawn|yield|parkready|chan|select|daisy|pool|preempt|handoff N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n <= 0 {
		os.Exit(2)
	}
	var d float64
	switch os.Args[1] {
	case "spawn":
		d = spawn(n)
	case "yield":
		d = yield(n)
	case "parkready":
		d = parkready(n)
	case "chan":
		d = chanPingPong(n)
	case "select":
		d = selectPingPong(n)
	case "daisy":
		d = daisy(n)
	case "pool":
		d = pool(n)
	case "preempt":
		preempt(n)
		return
	case "handoff":
		handoff(n)
		return
	default:
		os.Exit(2)
	}
	if d < 0 {
		fmt.Fprintln(os.Stderr, "go_bench: wrong answer")
		os.Exit(3)
	}
	fmt.Printf("%s %.1f\n", os.Args[1], d)
	if os.Getenv("GMP_BENCH_RUSAGE") != "" {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		fmt.Fprintf(os.Stderr, "rusage: user %d.%06d s, sys %d.%06d s, minflt %d, nvcsw %d, nivcsw %d\n",
			ru.Utime.Sec, ru.Utime.Usec, ru.Stime.Sec, ru.Stime.Usec,
			ru.Minflt, ru.Nvcsw, ru.Nivcsw)
	}
}
