package engines

// openai is any OpenAI-compatible server that already runs: benchform
// starts nothing, asks for nothing but the standard fields, and scrapes
// nothing unless told to.
func init() {
	register(&Engine{
		Name:           "openai",
		Health:         "/health",
		HealthOptional: true,
		Models:         "/v1/models",
		Naming:         Exact,
		Request:        Request{TokenLimit: []string{MaxCompletionTokens}},
	})
}

// simulated is benchform's built-in server (providers/simulated), which
// imitates vLLM's API and metrics.
func init() {
	register(&Engine{
		Name:    "simulated",
		BuiltIn: true,
		Health:  "/health",
		Models:  "/v1/models",
		Version: Version{Path: "/version", Field: "version"},
		Naming:  Exact,
		Request: Request{TokenLimit: []string{MaxCompletionTokens}, ContinuousUsage: true, IgnoreEOS: true},
		Metrics: vllmMetrics,
	})
}
