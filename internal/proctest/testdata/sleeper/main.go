// Command sleeper stands in for a daemon in proctest's own tests.
//
//	sleeper serve ADDR         listen on ADDR, say "ready"; on SIGTERM say "bye" and exit 0
//	sleeper stubborn ADDR      like serve, but ignore SIGTERM
//	sleeper exit CODE          say "exiting" on stderr and exit with CODE at once
//	sleeper print TEXT         print TEXT on stdout and exit 0
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sleeper serve|stubborn|exit|print ARG")
		os.Exit(2)
	}
	arg := os.Args[2]
	switch os.Args[1] {
	case "serve", "stubborn":
		serve(arg, os.Args[1] == "stubborn")
	case "exit":
		code, err := strconv.Atoi(arg)
		if err != nil {
			code = 2
		}
		fmt.Fprintln(os.Stderr, "exiting")
		os.Exit(code)
	case "print":
		fmt.Println(arg)
	default:
		os.Exit(2)
	}
}

func serve(addr string, ignoreTerm bool) {
	sigs := make(chan os.Signal, 1)
	if ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGTERM)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	fmt.Fprintln(os.Stderr, "ready")
	<-sigs
	fmt.Fprintln(os.Stderr, "bye")
}
