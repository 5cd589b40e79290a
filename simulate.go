package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/benchform/benchform/providers/simulated"
)

// simulate runs the built-in simulated server on its own, so that any
// client (curl, another benchmark tool) can be pointed at it.
func (c *cli) simulate(args []string) int {
	m := simulated.DefaultModel()
	fs := c.newFlagSet("simulate", "simulate [options]")
	listen := fs.String("listen", "127.0.0.1:8000", "address to listen on")
	fs.StringVar(&m.ServedModel, "model", m.ServedModel, "model name to serve")
	fs.DurationVar(&m.TTFT, "ttft", m.TTFT, "base time to first token")
	fs.DurationVar(&m.ITL, "itl", m.ITL, "base gap between output tokens")
	fs.Float64Var(&m.Jitter, "jitter", m.Jitter, "relative jitter of every delay, 0 to 1")
	fs.IntVar(&m.MaxNumSeqs, "max-num-seqs", m.MaxNumSeqs, "sequences decoded at once; more requests queue")
	fs.DurationVar(&m.ITLPerSeq, "itl-per-seq", m.ITLPerSeq, "extra gap between tokens per other running sequence")
	fs.DurationVar(&m.PrefillPerToken, "prefill-per-token", m.PrefillPerToken, "extra time to first token per prompt token")
	fs.IntVar(&m.DefaultMaxTokens, "default-max-tokens", m.DefaultMaxTokens, "output length of requests that set no max_tokens")
	fs.IntVar(&m.MaxModelLen, "max-model-len", m.MaxModelLen, "context length; longer requests are refused")
	fs.Int64Var(&m.Seed, "seed", m.Seed, "seed of the random draws")
	fs.StringVar(&m.Metrics, "engine", simulated.MetricsVLLM, "the engine whose /metrics to imitate: "+strings.Join(simulated.MetricsFlavours, ", "))
	fs.StringVar(&m.Schedule, "schedule", simulated.ScheduleIndependent, "when tokens go out: independent (each stream on its own clock) or batched (shared engine steps)")
	fs.IntVar(&m.ReasoningTokens, "reasoning-tokens", m.ReasoningTokens, "output tokens of each chat answer that stream first as reasoning, in the engine's reasoning field")
	tracePath := fs.String("trace", "", "write the time every token chunk was flushed to this file (request id, chunk index, Unix nanoseconds; tab-separated)")
	if _, err := parseArgs(fs, args); err != nil {
		return flagExit(err)
	}
	// The key comes from the environment so that it stays out of shell
	// history and process listings.
	m.APIKey = os.Getenv("BENCHFORM_SIMULATE_API_KEY")

	srv, err := simulated.NewServer(m)
	if err != nil {
		return c.errorf("%s", err)
	}
	if *tracePath != "" {
		f, err := os.Create(*tracePath)
		if err != nil {
			return c.errorf("%s", err)
		}
		defer f.Close()
		srv.SetTrace(f)
	}
	url, err := srv.Start(*listen)
	if err != nil {
		return c.errorf("%s", err)
	}
	fmt.Fprintf(c.stdout, "Simulated OpenAI-compatible server for model %q listening on %s (Ctrl-C to stop)\n", m.ServedModel, url)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	<-signals
	if err := srv.Close(); err != nil {
		return c.errorf("%s", err)
	}
	return exitOK
}
