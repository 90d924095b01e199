// Command tcp measures loopback TCP throughput: a sink goroutine reads and
// discards while the sender writes 1 MiB buffers for --duration. It prints
// MB/s (10^6 bytes) as JSON in the bench Result format.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/tributary/tributary/internal/bench"
)

func main() {
	dur := flag.Duration("duration", 5*time.Second, "send time")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	got := make(chan int64)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		n, _ := io.CopyBuffer(io.Discard, c, make([]byte, 1<<20))
		got <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf := make([]byte, 1<<20)
	start := time.Now()
	for time.Since(start) < *dur {
		if _, err := c.Write(buf); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	c.Close()
	n := <-got
	el := time.Since(start).Seconds()
	r := bench.Result{Mode: "tcp", Label: "loopback-tcp", Bytes: n, Seconds: el, MBPerSec: float64(n) / 1e6 / el}
	r.WriteJSON(os.Stdout)
}
