// Package runpod is the provider for GPU pods rented from RunPod and the
// inference servers that run on them. It imports only the providers
// contract and the engines table; everything RunPod-specific stays here.
//
// # Transport
//
// API is the small interface the provider talks through; Client implements
// it over RunPod's REST v2 API (REST v1 is retired and answers 410; GraphQL
// is deprecated). The client sends an explicit User-Agent, which RunPod's
// Cloudflare front requires, retries 429s after Retry-After or the reset of
// a spent RateLimit window (and holds later requests back while a window is
// spent), retries 5xx answers and transport errors of idempotent requests
// with capped, jittered exponential backoff, never retries 400 or 422, and
// stops at once on 401, 402, 403 and 410 with what to do. A create is never
// retried blindly: see below. Errors name the endpoint and the field of a
// response that is wrong; they never hold the API key or a pod's
// environment, which RunPod echoes verbatim and which holds secrets.
//
// # Settings
//
// Settings come from the provider "runpod" block (SettingsFromBlock:
// api_key, cloud_type, rest_url, proxy_url), then SettingsFromEnv fills
// what the block left unset from RUNPOD_API_KEY, RUNPOD_REST_URL and
// RUNPOD_PROXY_URL: configuration wins over the environment, as in
// Terraform's providers (Configure does both). Unset values take the
// production defaults. Tests point both URLs at runpodtest.
//
// # Pods
//
// Create rents a pod under the unique name the executor stored before the
// call, and returns as soon as the pod exists, so that its id is recorded
// before anything else can fail. The container is the engine of the server
// placed on the pod. REST v2 takes one GPU type per create: a gpu_type list
// is tried in order while RunPod refuses for capacity (400) or pool access
// (403). A create answered with a 5xx, a timeout or a lost connection may
// have rented a pod all the same, so the provider lists pods and looks for
// the name several times (lists lag) before trying again, and adopts what it
// finds; a twin that a long lag hid is terminated, and Delete terminates
// every pod of the name. Read with an empty id finds an interrupted create
// by its name.
//
// # Servers
//
// A server's state is its pod's: Create and Update wait for it to answer,
// without trusting the pod's status (RunPod reports RUNNING before the
// container runs): runtime and the port mapping first, then /health and
// /v1/models through RunPod's public HTTP proxy, within ready_timeout
// (default 20m), reporting progress; a container that stops or fails ends
// the wait at once with the tail of its log.
//
// The container is the engine's image (package engines says which). An
// image whose ENTRYPOINT runs the engine, as vLLM's runs `vllm serve`, gets
// the rest of the engine's command line as args. An image that runs the
// command it is given, as SGLang's, gets `bash -c SCRIPT`, the script
// starting the GPU sidecar in the background and exec-ing the server.
// RunPod splits args shell-style, so every word is quoted for a POSIX shell
// (twice for the script).
//
// # Server API keys
//
// The proxy is public, so every server requires an API key. Keys are never
// stored: state holds no secret. A server's key is instead derived as
// HMAC-SHA256 of its pod's unique name under a random local secret, kept in
// Settings.SecretDir (default $XDG_CONFIG_HOME/benchform or
// ~/.config/benchform, file runpod-server-key.secret, mode 0600, created on
// first use), so that any later benchform process on the same machine
// derives the same key and can reconnect. The key reaches the container
// only through its environment (the variable the engine reads it from,
// such as VLLM_API_KEY; for an engine that reads none, BENCHFORM_API_KEY,
// expanded by the shell into its key flag), never through args, which
// RunPod shows and state stores. An api_key set on the server wins; set
// one to reach the server from another machine.
//
// # GPU telemetry
//
// QueryGPU runs nvidia-smi's --query-gpu on a server's pod, by the best
// transport the image allows:
//
//   - An image that runs the command it is given (SGLang's): an HTTP
//     sidecar (Python's standard library, which the image has) on port
//     9901/http beside the server, started by the same shell that starts
//     the server, reached through the proxy with the server's key. It runs
//     nvidia-smi itself, so every field works.
//   - An image whose ENTRYPOINT runs the engine (vLLM's): REST v2 cannot
//     replace an ENTRYPOINT, so nothing can run beside the server. Its
//     answer is built from RunPod's runtime.gpus (utilisation and memory
//     share, refreshed at most every 5 s); a field RunPod does not report
//     gets nvidia-smi's own marker for a missing value, N/A in square
//     brackets.
//
// SSH was not chosen: a Go SSH client needs golang.org/x/crypto, neither
// image runs sshd, and vLLM's could not be made to start it.
package runpod
