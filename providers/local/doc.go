// Package local is the provider for pod "local": this machine, with
// nothing rented. A pod with provider = "local" always exists; a server
// placed on it is started here as a process with its engine's own command
// line (`vllm serve …`, `python3 -m sglang.launch_server …`; package engines
// holds them), listening on 127.0.0.1.
//
// A server outlives the benchform process that started it: apply starts it,
// a later apply finds it running and reuses it, destroy stops it. It runs in
// a session and process group of its own, so that a Ctrl-C aimed at
// benchform does not reach it and a stop reaches the engine's workers too.
// benchform keeps track of it through the pid stored as the object's ID,
// the process's start time (so that a pid the system has since given to
// another process is not mistaken for the server), and a record file named
// after the object's unique name beside its log file in the state
// directory. The record is written before the server is waited for, so
// that a benchform killed during the wait leaves a server the next refresh
// finds by name rather than one nobody knows about. Where neither state
// nor the record holds the start time, a variable in the server's
// environment carrying its name identifies it.
//
// The package imports nothing of the project but providers and engines. Process
// inspection reads /proc and works fully on Linux; elsewhere on Unix a
// reused pid cannot be told apart, and other systems cannot start servers.
package local
