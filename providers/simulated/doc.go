// Package simulated is an in-process stand-in for a vLLM server: an
// OpenAI-compatible HTTP API (/v1/models, /v1/chat/completions,
// /v1/completions), /health, /version and a Prometheus /metrics page with
// vLLM's V1 metric names, driven by a deterministic timing model instead of a
// GPU. It lets a benchmark run end to end with no GPU, no account and no
// network, and gives tests a server whose latencies are known in advance.
//
// Server is the HTTP server and Model its timing model. Provider manages
// servers declared with engine = "simulated" through the providers contract;
// it starts servers in the calling process, so they live no longer than it.
//
// The simulator's tokenizer counts whitespace-separated words: a prompt of
// five words is five prompt tokens (at least one), and every output token is
// one word with a leading space. Token counts in usage, in /metrics and in
// the client's own count of chunks therefore agree exactly.
//
// A reasoning model (Model.ReasoningTokens) streams its thinking as the
// imitated engine does, in the delta field and with the usage count the
// engines table gives for it.
//
// Nothing here imports another package of the project except providers,
// and engines for what the imitated engine streams.
package simulated
