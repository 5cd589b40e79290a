// Package telemetry samples what an inference server and its GPUs report
// while a measured step runs, and reduces the samples to per-step statistics
// that sit next to the client's own numbers.
//
// It owns two samplers and their parsers:
//
//   - ServerSampler scrapes a vLLM or SGLang /metrics endpoint immediately
//     before a step, every interval during it and immediately after it.
//     ParseMetrics reads the Prometheus text format with expfmt (which is
//     used nowhere else in the project); ServerWindow.Stats turns the
//     before/after scrapes into counter and histogram deltas and the samples
//     in between into gauge statistics, per engine and summed.
//   - GPUSampler queries a GPUSource (nvidia-smi on this machine, a DCGM
//     exporter, or whatever the caller adapts, such as nvidia-smi run on a
//     remote pod) in nvidia-smi's CSV shape. ParseNvidiaSMI reads that shape;
//     GPUWindow.Stats integrates instantaneous power into energy and
//     summarises utilisation, memory, clocks, temperature and throttling.
//
// Names of server metrics are matched tolerantly: old and new vLLM
// spellings, SGLang's, with or without the _total suffix, labels optional.
// A metric that a server does not expose is absent from the results, never
// an error, and absent values are nil pointers so that they stay out of
// JSON rather than reading as zero.
//
// The package imports nothing from the rest of the project. The executor
// decides when a step's window opens and closes, supplies the GPU source and
// the client's request and token counts, and stores the compact samples
// (ServerSample, GPUSample) and statistics in state.
package telemetry
