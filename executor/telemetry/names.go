package telemetry

// Family names of the quantities the statistics use, preferred spelling
// first. Each list covers vLLM V1 (current and deprecated names), vLLM V0,
// llm-d-inference-sim and SGLang; Scrape.Family also tries each name with
// and without _total.
var (
	promptTokenNames     = []string{"vllm:prompt_tokens_total", "sglang:prompt_tokens_total"}
	generationTokenNames = []string{"vllm:generation_tokens_total", "sglang:generation_tokens_total"}
	preemptionNames      = []string{"vllm:num_preemptions_total"}
	// SGLang retracts instead of preempting; the histogram's sum is the
	// number of retractions.
	retractionNames  = []string{"sglang:num_retractions"}
	prefixQueryNames = []string{"vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"}
	prefixHitNames   = []string{"vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"}
	// SGLang's radix-cache hits, to divide by its prompt tokens.
	cachedTokenNames    = []string{"sglang:cached_tokens_total"}
	successNames        = []string{"vllm:request_success_total"}
	sglangFinishedNames = []string{"sglang:num_requests_total"}
	sglangAbortedNames  = []string{"sglang:num_aborted_requests_total"}
	specDraftNames      = []string{"vllm:spec_decode_num_drafts_total"}
	specDraftTokenNames = []string{"vllm:spec_decode_num_draft_tokens_total"}
	specAcceptedNames   = []string{"vllm:spec_decode_num_accepted_tokens_total"}

	ttftNames = []string{"vllm:time_to_first_token_seconds", "sglang:time_to_first_token_seconds"}
	// vLLM 0.11 renamed time_per_output_token to inter_token_latency and
	// exposed both with the same data for a release; the first found wins
	// so that they are never added.
	itlNames = []string{
		"vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds",
		"sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds",
	}
	tpotNames      = []string{"vllm:request_time_per_output_token_seconds"}
	e2eNames       = []string{"vllm:e2e_request_latency_seconds", "sglang:e2e_request_latency_seconds"}
	queueNames     = []string{"vllm:request_queue_time_seconds"}
	prefillNames   = []string{"vllm:request_prefill_time_seconds"}
	decodeNames    = []string{"vllm:request_decode_time_seconds"}
	inferenceNames = []string{"vllm:request_inference_time_seconds"}
	iterationNames = []string{"vllm:iteration_tokens_total"}

	runningNames       = []string{"vllm:num_requests_running", "sglang:num_running_reqs"}
	waitingNames       = []string{"vllm:num_requests_waiting", "sglang:num_queue_reqs"}
	kvUsageNames       = []string{"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage"}
	genThroughputNames = []string{"sglang:gen_throughput"}

	cacheConfigNames     = []string{"vllm:cache_config_info"}
	maxTotalTokenNames   = []string{"sglang:max_total_num_tokens"}
	startupTimeNames     = []string{"sglang:engine_startup_time"}
	loadWeightsTimeNames = []string{"sglang:engine_load_weights_time"}
	httpRequestNames     = []string{"http_requests_total"}
	processStartNames    = []string{"process_start_time_seconds"}
)

// finishLabels name the label of a finished request's reason: vLLM's and
// llm-d-inference-sim's.
var finishLabels = []string{"finished_reason", "finish_reason"}

// engineKey is the engine a series belongs to: vLLM's engine label (one per
// data-parallel engine), else SGLang's dp_rank, else "" for servers that
// label neither (vLLM before the engine label, llm-d-inference-sim).
func engineKey(labels map[string]string) string {
	if v, ok := labels["engine"]; ok {
		return v
	}
	return labels["dp_rank"]
}
