// SPDX-License-Identifier: GPL-2.0
//
// Go's side of the scheduler benchmarks: the same workloads as
// gmp_bench.c, with the same semantics. Usage: go_bench WORKLOAD N
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
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

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_bench spawn|yield|parkready N")
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
	default:
		os.Exit(2)
	}
	fmt.Printf("%s %.1f\n", os.Args[1], d)
}
