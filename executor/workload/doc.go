// Package workload generates measured load against an OpenAI-compatible
// inference server and reduces what it observes to statistics.
//
// It owns three things: one streaming request (Client.Do, which returns a
// Record), the schedules that send requests (Run: a closed loop of workers
// or an open loop at a rate), and the Summary that turns Records into
// Stats. Every number follows the definitions of `vllm bench serve` so that
// results can be put next to vLLM's own: TTFT is stamped on the first SSE
// event whose choices carry output, E2EL on the last such event, ITL is the
// list of gaps between those events, TPOT is (E2EL−TTFT)/(output tokens−1),
// and percentiles interpolate as numpy.percentile does. Where vLLM's client
// also stamps an event that carries no output (a chat stream's role-only
// opening chunk, an empty closing one), this one does not.
//
// Timing uses Go's monotonic clock. A request's clock starts immediately
// before it is handed to the HTTP transport, after any wait imposed by the
// schedule, so client-side queueing is reported apart (Record.QueueTime)
// rather than inflating TTFT. An event is stamped when the read that
// delivered its bytes returned, before any JSON is decoded.
//
// The package imports nothing from the rest of the project: the executor
// chooses prompts, wires Records into state and a Summary, and renders Stats
// through the report package.
package workload
