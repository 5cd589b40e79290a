// Package engines holds every fact benchform knows about an inference
// engine, once: the container image and port it runs with, the command line
// that starts it, where it answers health checks, lists its models and
// states its version, which request fields it honours, how it names its
// models, and its Prometheus families with what each one means.
//
// Configuration (lang), the providers that start servers (runpod, local),
// the provider that checks endpoints (openai), the executor and the
// telemetry samplers read this table; none of them names an engine. Adding
// an engine is adding a file here.
//
// The package imports nothing from the project, and nothing but the
// standard library.
package engines
