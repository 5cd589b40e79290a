// Package dataset builds the prompts a scenario sends: inline strings, a
// JSON Lines file, a ShareGPT conversation dump sampled as vLLM's
// benchmark samples it, or synthetic prompts of a requested token length.
//
// It owns reading and validating dataset files, seeded sampling and
// generation, and the estimate of token counts where no tokenizer is at
// hand. It knows nothing of servers, schedules or configuration files: its
// caller decodes a Spec from the configuration, asks Load for as many
// prompts as a step sends, and cycles them if a file has fewer. Every
// result is a pure function of the Spec, n and the files read, so the same
// seed gives byte-identical prompts.
//
// Token counts are planned, not measured. A synthetic prompt of n words is
// n tokens in the cl100k (GPT-4), Llama-3, Qwen2, Gemma 3 and Mistral
// tokenizers, before special and chat-template tokens; any other text's
// length comes from EstimateTokens. A server's usage report replaces them
// when it sends one.
//
// Repeating a seed repeats the prompts, and a server with prefix caching
// then answers from its cache: a rerun with the same seed measures a warm
// cache, not the model. Give each run its own seed to measure a cold one.
package dataset
