package engines

import "strconv"

// Hugging Face's text-generation-inference, from its image, whose
// ENTRYPOINT hands its arguments to text-generation-launcher. The
// launcher reads its key from API_KEY (since 2.3); /health, /v1/models and
// /metrics are open, and /metrics is always on. It serves one model,
// listed under its --model-id, and answers to any name. It has no
// ignore_eos, and takes max_completion_tokens as another spelling of
// max_tokens, so a body may carry only one of them.
func init() {
	register(&Engine{
		Name: "tgi",
		Launch: &Launch{
			Image:      "ghcr.io/huggingface/text-generation-inference:3.3.7",
			Entrypoint: []string{"text-generation-launcher"},
			Port:       8080,
			KeyEnv:     "API_KEY",
			Flags:      true,
			argv: func(c Command) []string {
				argv := []string{"text-generation-launcher", "--model-id", c.Model, "--hostname", c.Host, "--port", strconv.Itoa(c.Port)}
				if c.GPUs > 1 {
					argv = append(argv, "--num-shard", strconv.Itoa(c.GPUs))
				}
				return argv
			},
		},
		Health:  "/health",
		Models:  "/v1/models",
		Version: Version{Path: "/info", Field: "version"},
		Naming:  Single,
		Request: Request{TokenLimit: []string{MaxTokens}},
		// The metrics crate's exporter: counters without _total, token
		// counts as histograms whose sum is the total.
		Metrics: &Metrics{
			Path:   "/metrics",
			Prefix: "tgi_",
			Families: map[Quantity][]Family{
				PromptTokens:     {{Name: "tgi_request_input_length", Sum: true}},
				GenerationTokens: {{Name: "tgi_request_generated_tokens", Sum: true}},
				// Successes, and failures of any kind (validation,
				// generation, dropped).
				RequestsFinished: {{Name: "tgi_request_success"}},
				RequestsAborted:  {{Name: "tgi_request_failure"}},
				// Each request's mean time per output token.
				TPOT:          {{Name: "tgi_request_mean_time_per_token_duration"}},
				E2E:           {{Name: "tgi_request_duration"}},
				QueueTime:     {{Name: "tgi_request_queue_duration"}},
				InferenceTime: {{Name: "tgi_request_inference_duration"}},
				Running:       {{Name: "tgi_batch_current_size"}},
				Waiting:       {{Name: "tgi_queue_size"}},
			},
		},
	})
}
