package engines

import "strconv"

// SGLang: `python3 -m sglang.launch_server`, from the lmsysorg/sglang
// image, which runs the command it is given. It reads its key from no
// environment variable, so the key goes on the command line; /health and
// /metrics are not behind it. /metrics exists only with --enable-metrics.
func init() {
	register(&Engine{
		Name: "sglang",
		Launch: &Launch{
			Image:      "lmsysorg/sglang:v0.5.23",
			Port:       30000,
			KeyFlag:    "--api-key",
			Flags:      true,
			ServedName: true,
			argv: func(c Command) []string {
				argv := []string{"python3", "-m", "sglang.launch_server", "--model-path", c.Model, "--host", c.Host, "--port", strconv.Itoa(c.Port)}
				if c.GPUs > 1 {
					argv = append(argv, "--tp", strconv.Itoa(c.GPUs))
				}
				argv = append(argv, "--enable-metrics")
				if c.ServedName != "" {
					argv = append(argv, "--served-model-name", c.ServedName)
				}
				return argv
			},
		},
		Health:  "/health",
		Models:  "/v1/models",
		Version: Version{Path: "/get_server_info", Field: "version"},
		Naming:  Exact,
		Request: Request{TokenLimit: []string{MaxCompletionTokens}, ContinuousUsage: true, IgnoreEOS: true},
		// SGLang's usage.reasoning_tokens is its own; it read 0 whatever
		// the model thought before sgl-project/sglang#15562.
		Reasoning: Reasoning{Field: ReasoningContentField, Usage: UsageTopLevel},
		Metrics: &Metrics{
			Path:       "/metrics",
			Flag:       "--enable-metrics",
			Prefix:     "sglang:",
			Replica:    "dp_rank",
			ModelLabel: "model_name",
			Families: map[Quantity][]Family{
				PromptTokens:     {{Name: "sglang:prompt_tokens_total"}},
				GenerationTokens: {{Name: "sglang:generation_tokens_total"}},
				// SGLang retracts instead of preempting; the histogram's
				// sum is the number of retractions.
				Preemptions: {{Name: "sglang:num_retractions", Sum: true}},
				// Radix-cache hits; every prompt token is looked up.
				CachedPromptTokens: {{Name: "sglang:cached_tokens_total"}},
				RequestsFinished:   {{Name: "sglang:num_requests_total"}},
				RequestsAborted:    {{Name: "sglang:num_aborted_requests_total"}},

				TTFT: {{Name: "sglang:time_to_first_token_seconds"}},
				ITL:  {{Name: "sglang:inter_token_latency_seconds"}, {Name: "sglang:time_per_output_token_seconds"}},
				E2E:  {{Name: "sglang:e2e_request_latency_seconds"}},

				Running:          {{Name: "sglang:num_running_reqs"}},
				Waiting:          {{Name: "sglang:num_queue_reqs"}},
				KVCacheUsage:     {{Name: "sglang:token_usage"}},
				GenThroughput:    {{Name: "sglang:gen_throughput"}},
				KVCapacityTokens: {{Name: "sglang:max_total_num_tokens"}},
				StartupSeconds:   {{Name: "sglang:engine_startup_time"}},
				LoadWeightsSecs:  {{Name: "sglang:engine_load_weights_time"}},
			},
		},
	})
}
