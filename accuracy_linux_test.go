//go:build linux

package main

import "github.com/benchform/benchform/executor/workload"

func init() {
	if workload.KernelTimingAvailable() {
		dialRx = workload.DialKernelStamped
		clients = append(clients, bareRxClient)
	}
}
