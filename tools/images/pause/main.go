// pause is the sandbox ("infra") container of every pod on the test node: it holds the pod's namespaces
// open, reaps the zombies of a pod that shares its process namespace, and exits on SIGTERM or SIGINT.
// No registry is reachable here, so registry.k8s.io/pause cannot be pulled; this does what its pause.c does.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("pause (downward-webhook test node)\n")
		return
	}
	if os.Getpid() != 1 {
		os.Stderr.WriteString("warning: pause should be the first process\n")
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			// Reap every child that has exited; stop when none is left to reap.
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
