package engines

import (
	"net"
	"strconv"
)

// ollama, from the ollama/ollama image, whose ENTRYPOINT is the ollama
// binary. It is tuned through its environment only (OLLAMA_NUM_PARALLEL,
// OLLAMA_CONTEXT_LENGTH, ...) and listens where OLLAMA_HOST says. It
// requires no key and has no way to: on a rented pod it is open to anyone
// who finds its address. It serves a model only once it has pulled it,
// lists models with their tag (NAME:latest when none is written), honours
// max_tokens but not max_completion_tokens, has no ignore_eos and exposes
// no Prometheus metrics.
func init() {
	register(&Engine{
		Name: "ollama",
		Launch: &Launch{
			Image:      "ollama/ollama:0.32.15",
			Entrypoint: []string{"ollama"},
			Port:       11434,
			Pull:       "/api/pull",
			argv:       func(Command) []string { return []string{"ollama", "serve"} },
			env: func(c Command) map[string]string {
				return map[string]string{"OLLAMA_HOST": net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}
			},
		},
		// Its root answers 200 "Ollama is running" once it serves.
		Health:  "/",
		Models:  "/v1/models",
		Version: Version{Path: "/api/version", Field: "version"},
		Naming:  Tagged,
		Request: Request{TokenLimit: []string{MaxTokens}},
		// From its native thinking; its usage does not count it apart.
		Reasoning: Reasoning{Field: ReasoningField},
	})
}
