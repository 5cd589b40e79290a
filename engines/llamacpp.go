package engines

import (
	"strconv"
	"strings"
)

// llama.cpp's llama-server, from the ghcr.io/ggml-org/llama.cpp:server-cuda
// image, whose ENTRYPOINT is /app/llama-server. It reads its key from
// LLAMA_API_KEY; /health and /v1/models are open, /metrics is behind the
// key (the sampler sends it) and exists only with --metrics. It serves one
// model and answers to any name; --alias sets the id its model list shows,
// which is otherwise the model's path or repository.
func init() {
	register(&Engine{
		Name: "llama.cpp",
		Launch: &Launch{
			Image:      "ghcr.io/ggml-org/llama.cpp:server-cuda-b11382",
			Entrypoint: []string{"llama-server"},
			Port:       8080,
			KeyEnv:     "LLAMA_API_KEY",
			Flags:      true,
			ServedName: true,
			argv: func(c Command) []string {
				// A GGUF file is opened with -m, anything else is a
				// Hugging Face repository (user/repo[:quant]) for -hf.
				source := "-hf"
				if strings.HasPrefix(c.Model, "/") || strings.HasPrefix(c.Model, ".") || strings.HasSuffix(strings.ToLower(c.Model), ".gguf") {
					source = "-m"
				}
				alias := c.ServedName
				if alias == "" {
					alias = c.Model
				}
				// -ngl 999 offloads every layer in old builds, which
				// default to none, as in new ones, which default to as
				// many as fit; layers spread over every visible GPU.
				return []string{"llama-server", source, c.Model, "--host", c.Host, "--port", strconv.Itoa(c.Port),
					"--alias", alias, "-ngl", "999", "--metrics"}
			},
		},
		Health:  "/health",
		Models:  "/v1/models",
		Version: Version{Path: "/props", Field: "build_info"},
		Naming:  Single,
		// Builds before February 2026 ignore max_completion_tokens and
		// generate without limit; every build honours max_tokens, and the
		// two agree.
		Request: Request{TokenLimit: []string{MaxCompletionTokens, MaxTokens}, IgnoreEOS: true},
		// With --reasoning-format deepseek or auto; its usage does not
		// count reasoning apart.
		Reasoning: Reasoning{Field: ReasoningContentField},
		Metrics: &Metrics{
			Path:   "/metrics",
			Flag:   "--metrics",
			Prefix: "llamacpp:",
			Families: map[Quantity][]Family{
				PromptTokens:     {{Name: "llamacpp:prompt_tokens_total"}},
				GenerationTokens: {{Name: "llamacpp:tokens_predicted_total"}},
				// Busy slots, and tasks waiting for one.
				Running: {{Name: "llamacpp:requests_processing"}},
				Waiting: {{Name: "llamacpp:requests_deferred"}},
			},
		},
	})
}
