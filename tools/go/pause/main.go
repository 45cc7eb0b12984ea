// Command pause holds a pod's namespaces open: it is the only process of the pod's sandbox container,
// as Kubernetes' own pause image is (whose C source is not in the Go module, so the local node builds
// this one). It sleeps, exits 0 on SIGINT or SIGTERM, and reaps orphaned children, which it inherits
// as PID 1 of a pod that shares its process namespace.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
