// Package controller holds the cluster controller's policies as pure
// functions: placement of new replicas, leader election, ISR changes,
// fencing and broker liveness, partition reassignment (KIP-455) and its
// planning, and preferred leader balance. Each takes values (a partition
// record, a view of the brokers, the current time) and returns values; none
// does I/O, keeps state between calls (except Liveness, a value the caller
// owns and locks), reads the clock or draws random numbers. The metadata
// state machine (internal/metadata) calls them to apply commands and to run
// the active controller; the broker calls Place to lay out new topics; the
// CLI (internal/client) calls PlanReassignment. So a rule lives here once
// and is tested here with data-driven cases (testdata/, see
// controller_test.go; `go test ./internal/controller -update` rewrites the
// expected output).
//
// Concurrency: none of these functions keeps a reference to its arguments
// or is safe to share mutable values across goroutines; Partition values
// returned are fresh copies.
package controller
