// SPDX-License-Identifier: GPL-2.0
//
// Go's side of the scheduler benchmarks: the same workloads as
// gmp_bench.c, with the same semantics. Usage: go_bench WORKLOAD N
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
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

// idle: n TCP loopback connections that carry nothing, a goroutine in
// Read on each server end; the client ends are plain descriptors, as in
// gmp_bench.c. Threads, and bytes per connection, all readers waiting.
func idle(n int) {
	fail := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "go_bench: idle: %s: %v\n", what, err)
		os.Exit(3)
	}
	lim := syscall.Rlimit{Cur: uint64(2*n + 64), Max: uint64(2*n + 64)}
	var cur syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur) == nil && cur.Max > lim.Max {
		lim.Max = cur.Max
	}
	if cur.Cur < lim.Cur {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fail("setrlimit", err)
		}
	}
	const ports = 4 // bench_util.h's IDLE_PORTS
	var lns [ports]net.Listener
	var addrs [ports]syscall.SockaddrInet4
	var waiting int64
	for k := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fail("listen", err)
		}
		lns[k] = ln
		addrs[k] = syscall.SockaddrInet4{Port: ln.Addr().(*net.TCPAddr).Port,
			Addr: [4]byte{127, 0, 0, 1}}
		go func(k int) {
			for i := k; i < n; i += ports {
				c, err := lns[k].Accept()
				if err != nil {
					fail("accept", err)
				}
				go func(c net.Conn) {
					var b [1]byte
					atomic.AddInt64(&waiting, 1)
					if r, _ := c.Read(b[:]); r != 0 {
						fail("read", nil) // nothing is sent
					}
					c.Close()
				}(c)
			}
		}(k)
	}
	fds := make([]int, n)
	rss0, used0 := memRead()
	for i := range fds {
		fd, err := syscall.Socket(syscall.AF_INET,
			syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err == nil {
			err = syscall.Connect(fd, &addrs[i%ports])
		}
		if err != nil {
			fail("connect", err)
		}
		fds[i] = fd
	}
	for atomic.LoadInt64(&waiting) < int64(n) {
		time.Sleep(time.Millisecond)
	}
	// bench_util.h's IDLE_SETTLE_NS
	time.Sleep(50*time.Millisecond + time.Duration(n)*time.Microsecond)
	rss1, used1 := memRead()
	threads := procKB("/proc/self/status", "Threads")
	fmt.Printf("idlethr %d\n", threads)
	fmt.Printf("idlerss %.0f\n", float64(rss1-rss0)*1024/float64(n))
	fmt.Printf("idlemem %.0f\n", float64(used1-used0)*1024/float64(n))
	os.Exit(0) // the teardown is not measured (gmp_bench.c)
}

// echo: a 64-byte message over TCP loopback and back, conns connections
// at once, n round trips in all, a goroutine at each end (Go's net
// package: its netpoller parks them); per round trip.
func echo(n, conns int) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return -1
	}
	defer ln.Close()
	go func() {
		for i := 0; i < conns; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				buf := make([]byte, 64)
				for {
					r, err := c.Read(buf)
					if err != nil {
						break
					}
					if _, err := c.Write(buf[:r]); err != nil {
						break
					}
				}
				c.Close()
			}(c)
		}
	}()
	rounds := n / conns
	var bad int32
	var wg sync.WaitGroup
	wg.Add(conns)
	t := time.Now()
	for i := 0; i < conns; i++ {
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				atomic.AddInt32(&bad, 1)
				return
			}
			defer c.Close()
			msg := bytes.Repeat([]byte{'e'}, 64)
			back := make([]byte, 64)
			for j := 0; j < rounds; j++ {
				if _, err := c.Write(msg); err != nil {
					atomic.AddInt32(&bad, 1)
					return
				}
				if _, err := io.ReadFull(c, back); err != nil ||
					!bytes.Equal(msg, back) {
					atomic.AddInt32(&bad, 1)
					return
				}
			}
		}()
	}
	wg.Wait()
	if bad != 0 {
		return -1
	}
	return perOp(t, rounds*conns)
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

// A "Name:   value kB" line of a /proc file, in kB (bench_util.h).
func procKB(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, name+":") {
			f := strings.Fields(line[len(name)+1:])
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			return kb
		}
	}
	return -1
}

// The process's RSS and the machine's memory in use (bench_util.h).
func memRead() (rss, used int64) {
	return procKB("/proc/self/status", "VmRSS"),
		procKB("/proc/meminfo", "MemTotal") - procKB("/proc/meminfo", "MemFree")
}

// parked: n goroutines parked on a channel receive; bytes per goroutine.
func parked(n int) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	var count int64
	rss0, used0 := memRead()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&count, 1)
			<-release
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&count) < int64(n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	rss1, used1 := memRead()
	close(release)
	wg.Wait()
	fmt.Printf("rss %.0f\n", float64(rss1-rss0)*1024/float64(n))
	fmt.Printf("mem %.0f\n", float64(used1-used0)*1024/float64(n))
}

// One unit of CPU work: bench_util.h's work().
func work(x uint64) uint64 {
	for i := 0; i < 1000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

var sink uint64

const perP = 4 // fair's and sysmix's goroutines per P

// fair: four CPU-bound goroutines per P for n ms; Jain's index.
func fair(n int) {
	g := perP * runtime.GOMAXPROCS(0)
	shares := make([]int64, g)
	var stop int32
	var wg sync.WaitGroup
	wg.Add(g)
	for k := 0; k < g; k++ {
		go func(k int) {
			x, c := uint64(k), int64(0)
			for atomic.LoadInt32(&stop) == 0 {
				x = work(x)
				c++
			}
			shares[k] = c
			atomic.AddUint64(&sink, x)
			wg.Done()
		}(k)
	}
	time.Sleep(time.Duration(n) * time.Millisecond)
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	var sum, sq float64
	for _, c := range shares {
		sum += float64(c)
		sq += float64(c) * float64(c)
	}
	fmt.Printf("fair %.3f\n", sum*sum/(float64(g)*sq))
}

// mixPhase: the computers' time for n units each, with readers
// goroutines beside them blocked in read(2) (syscall.Read on a blocking
// pipe: a real system call, not the netpoller) that a writer feeds a
// byte every 50 us.
func mixPhase(n, readers int, reads *int64) time.Duration {
	g := perP * runtime.GOMAXPROCS(0)
	pipes := make([][2]int, readers)
	var stop int32
	var rwg, cwg, wwg sync.WaitGroup
	rwg.Add(readers)
	for k := range pipes {
		if err := syscall.Pipe(pipes[k][:]); err != nil {
			panic(err)
		}
		go func(fd int) {
			b := make([]byte, 1)
			for {
				if c, _ := syscall.Read(fd, b); c != 1 || b[0] == 'q' {
					break
				}
				atomic.AddInt64(reads, 1)
			}
			rwg.Done()
		}(pipes[k][0])
	}
	if readers > 0 {
		wwg.Add(1)
		go func() {
			for k := 0; atomic.LoadInt32(&stop) == 0; k = (k + 1) % readers {
				syscall.Write(pipes[k][1], []byte("x"))
				time.Sleep(50 * time.Microsecond)
			}
			for k := range pipes {
				syscall.Write(pipes[k][1], []byte("q"))
			}
			wwg.Done()
		}()
	}
	t := time.Now()
	cwg.Add(g)
	for k := 0; k < g; k++ {
		go func(x uint64) {
			for i := 0; i < n; i++ {
				x = work(x)
			}
			atomic.AddUint64(&sink, x)
			cwg.Done()
		}(uint64(k))
	}
	cwg.Wait()
	d := time.Since(t)
	atomic.StoreInt32(&stop, 1)
	wwg.Wait()
	rwg.Wait()
	for _, p := range pipes {
		syscall.Close(p[0])
		syscall.Close(p[1])
	}
	return d
}

// sysmix: the computers' time beside blocked readers over it alone.
func sysmix(n int) {
	var reads int64
	alone := mixPhase(n, 0, &reads)
	mixed := mixPhase(n, perP*runtime.GOMAXPROCS(0), &reads)
	if reads == 0 {
		os.Exit(3)
	}
	fmt.Printf("sysmix %.3f\n", float64(mixed)/float64(alone))
}

// httpserve: Go's net/http answering "Hello, World!" on 127.0.0.1:port
// until killed, for bench/guest.sh's wrk rows (the same answer as
// examples/http.c and epoll_bench's).
func httpServe(port int) {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Hello, World!\n")
	})
	err := http.ListenAndServe(fmt.Sprintf("127.0.0.1:%d", port), nil)
	fmt.Fprintln(os.Stderr, "go_bench:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_bench spawn|yield|parkready|chan|select|daisy|pool|preempt|handoff|parked|fair|sysmix|echo|echo100|idle N | httpserve PORT")
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
	case "parked":
		parked(n)
		return
	case "fair":
		fair(n)
		return
	case "sysmix":
		sysmix(n)
		return
	case "httpserve":
		httpServe(n)
	case "echo":
		d = echo(n, 1)
	case "echo100":
		d = echo(n, 100)
	case "idle":
		idle(n)
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
