// Package executor plans and applies a configuration: it refreshes what
// state records through the providers, diffs it against the configuration
// into a Plan, and applies a Plan by walking the dependency graph, calling
// providers for pods and servers and running the workload for scenarios.
//
// Every effect is recorded in state as it happens: the intent before a
// provider call, the result right after, request records in batches while a
// scenario runs. An apply killed at any point leaves a state that the next
// plan reconciles.
package executor
