package engines

import "strconv"

// vLLM: `vllm serve`, from the vllm/vllm-openai image, whose ENTRYPOINT is
// `vllm serve`. It reads its key from VLLM_API_KEY, which keeps the key
// out of process listings and of the arguments a pod's console shows;
// /health, /metrics and /version are not behind it.
func init() {
	register(&Engine{
		Name: "vllm",
		Launch: &Launch{
			Image:      "vllm/vllm-openai:v0.33.0",
			Entrypoint: []string{"vllm", "serve"},
			Port:       8000,
			KeyEnv:     "VLLM_API_KEY",
			Flags:      true,
			ServedName: true,
			argv: func(c Command) []string {
				// The model is positional: vllm serve deprecates --model.
				argv := []string{"vllm", "serve", c.Model, "--host", c.Host, "--port", strconv.Itoa(c.Port)}
				if c.GPUs > 1 {
					argv = append(argv, "--tensor-parallel-size", strconv.Itoa(c.GPUs))
				}
				if c.ServedName != "" {
					argv = append(argv, "--served-model-name", c.ServedName)
				}
				return argv
			},
		},
		Health:  "/health",
		Models:  "/v1/models",
		Version: Version{Path: "/version", Field: "version"},
		Naming:  Exact,
		Request: Request{TokenLimit: []string{MaxCompletionTokens}, ContinuousUsage: true, IgnoreEOS: true},
		// Up to v0.11.0 vLLM streamed reasoning_content, from v0.11.1 to
		// v0.15 both fields with the same text, since v0.16 reasoning
		// alone. Chat usage counts reasoning tokens apart since PR #45802.
		Reasoning: Reasoning{Field: ReasoningField, Usage: UsageDetails},
		Metrics:   vllmMetrics,
	})
}

// vllmMetrics covers vLLM V1 (current and deprecated names), V0 and
// llm-d-inference-sim, which imitates it.
var vllmMetrics = &Metrics{
	Path:         "/metrics",
	Prefix:       "vllm:",
	Replica:      "engine",
	ModelLabel:   "model_name",
	FinishLabels: []string{"finished_reason", "finish_reason"},
	Families: map[Quantity][]Family{
		PromptTokens:       {{Name: "vllm:prompt_tokens_total"}},
		GenerationTokens:   {{Name: "vllm:generation_tokens_total"}},
		Preemptions:        {{Name: "vllm:num_preemptions_total"}},
		PrefixCacheQueries: {{Name: "vllm:prefix_cache_queries_total"}, {Name: "vllm:gpu_prefix_cache_queries_total"}},
		PrefixCacheHits:    {{Name: "vllm:prefix_cache_hits_total"}, {Name: "vllm:gpu_prefix_cache_hits_total"}},
		RequestsFinished:   {{Name: "vllm:request_success_total"}},
		SpecDrafts:         {{Name: "vllm:spec_decode_num_drafts_total"}},
		SpecDraftTokens:    {{Name: "vllm:spec_decode_num_draft_tokens_total"}},
		SpecAcceptedTokens: {{Name: "vllm:spec_decode_num_accepted_tokens_total"}},

		TTFT: {{Name: "vllm:time_to_first_token_seconds"}},
		// vLLM 0.11 renamed time_per_output_token to inter_token_latency
		// and exposed both, with the same data, for a release.
		ITL:             {{Name: "vllm:inter_token_latency_seconds"}, {Name: "vllm:time_per_output_token_seconds"}},
		TPOT:            {{Name: "vllm:request_time_per_output_token_seconds"}},
		E2E:             {{Name: "vllm:e2e_request_latency_seconds"}},
		QueueTime:       {{Name: "vllm:request_queue_time_seconds"}},
		PrefillTime:     {{Name: "vllm:request_prefill_time_seconds"}},
		DecodeTime:      {{Name: "vllm:request_decode_time_seconds"}},
		InferenceTime:   {{Name: "vllm:request_inference_time_seconds"}},
		IterationTokens: {{Name: "vllm:iteration_tokens_total"}},

		Running:      {{Name: "vllm:num_requests_running"}},
		Waiting:      {{Name: "vllm:num_requests_waiting"}},
		KVCacheUsage: {{Name: "vllm:kv_cache_usage_perc"}, {Name: "vllm:gpu_cache_usage_perc"}},
		CacheConfig:  {{Name: "vllm:cache_config_info"}},
	},
}
