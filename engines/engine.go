package engines

import (
	"slices"
	"sort"
	"strings"
)

// Engine is what benchform knows about one inference engine.
type Engine struct {
	// Name is how configuration names the engine: engine = "vllm".
	Name string
	// Launch says how benchform starts the engine; nil for an engine it
	// only talks to.
	Launch *Launch
	// BuiltIn marks the simulator, which runs inside benchform.
	BuiltIn bool

	// Health is the path that answers 200 once the server can serve.
	// HealthOptional accepts a 404 from it: a generic OpenAI-compatible
	// server may have no such path.
	Health         string
	HealthOptional bool
	// Models is the path of the OpenAI model list.
	Models string
	// Version is where the server states its version.
	Version Version
	// Naming says how a requested model name is matched against the ids
	// the server lists.
	Naming Naming
	// Request says which request fields the engine honours.
	Request Request
	// Reasoning says how the engine streams a reasoning model's thinking
	// and counts its tokens.
	Reasoning Reasoning
	// Metrics describes the engine's Prometheus endpoint; nil when it has
	// none.
	Metrics *Metrics
}

// Version is an endpoint that states a server's version: a GET of Path
// answers a JSON object whose Field holds it.
type Version struct {
	Path, Field string
}

// Naming is how an engine matches model names.
type Naming int

// Namings.
const (
	// Exact: a request names one of the listed ids exactly, case
	// included.
	Exact Naming = iota
	// Tagged: an id is NAME:TAG, ":latest" when no tag is written, and
	// names compare without regard to case, as ollama's do.
	Tagged
	// Single: the server serves one model and answers to any name, as
	// llama.cpp's and TGI's do.
	Single
)

// Request is what an engine does with the optional fields of a streaming
// request.
type Request struct {
	// TokenLimit lists the fields a chat request's output limit is sent
	// in, each with the same value: the fields the engine honours, left
	// out where sending one the engine does not know would be refused.
	// Completions requests send max_tokens, which every engine honours.
	TokenLimit []string
	// ContinuousUsage: the engine honours
	// stream_options.continuous_usage_stats, a running usage count on
	// every chunk.
	ContinuousUsage bool
	// IgnoreEOS: the engine honours ignore_eos.
	IgnoreEOS bool
}

// Reasoning is how an engine separates a reasoning model's thinking from
// its answer in a chat stream, with its reasoning parser on.
type Reasoning struct {
	// Field is the delta member the thinking streams in, ReasoningField or
	// ReasoningContentField; empty where the engine streams none.
	Field string
	// Usage is where the final usage report counts the reasoning tokens
	// among completion_tokens, UsageDetails or UsageTopLevel; empty where
	// it does not count them apart.
	Usage string
}

// The delta members that carry reasoning text. A client reads both: an
// engine's field changed across its releases.
const (
	ReasoningField        = "reasoning"
	ReasoningContentField = "reasoning_content"
)

// Where a usage report counts reasoning tokens.
const (
	// UsageDetails: usage.completion_tokens_details.reasoning_tokens, as
	// OpenAI reports it.
	UsageDetails = "completion_tokens_details.reasoning_tokens"
	// UsageTopLevel: usage.reasoning_tokens, beside completion_tokens.
	UsageTopLevel = "reasoning_tokens"
)

// The token-limit fields of a chat request.
const (
	MaxCompletionTokens = "max_completion_tokens"
	MaxTokens           = "max_tokens"
)

// Launch is how benchform starts an engine: in its container image on a
// rented pod, or as a process on this machine.
type Launch struct {
	// Image is the container image. Its tag is pinned: hosts cache
	// "latest", so it goes stale, and a benchmark must say what it ran.
	Image string
	// Entrypoint is the start of the command line that the image's
	// ENTRYPOINT stands for; a container is given the rest. Empty when the
	// image runs whatever command it is given.
	Entrypoint []string
	// Port is the port the server listens on unless told otherwise.
	Port int
	// KeyEnv names the environment variable the server reads its API key
	// from; KeyFlag the flag that passes it, for an engine that reads
	// none. Both are empty when the server cannot require a key.
	KeyEnv, KeyFlag string
	// Flags says whether the engine takes flags on its command line, where
	// a server's args go; one tuned by its environment alone does not.
	Flags bool
	// ServedName says whether the engine can serve the model under a name
	// of the configuration's choosing (served_model_name).
	ServedName bool
	// Pull, when set, is the path of the request that fetches the model
	// once the server answers: a POST of {"model": NAME, "stream": false}.
	// The model is listed only after it.
	Pull string

	// argv is the command line after the program: the model, host, port
	// and what the engine needs to serve them as benchform expects.
	argv func(c Command) []string
	// env is what the engine's environment needs besides the key.
	env func(c Command) map[string]string
}

// Command is what a command line is built from.
type Command struct {
	// Executable replaces the engine's own program (argv[0]); empty keeps
	// it.
	Executable string
	Model      string
	// ServedName is the name to serve the model under; empty serves it
	// under its own.
	ServedName string
	Host       string
	Port       int
	// GPUs above 1 shards the model over that many GPUs.
	GPUs int
	// APIKey is put on the command line by engines that read it from no
	// environment variable (see Launch.KeyFlag); others get it through
	// Environment.
	APIKey string
	// Args come last, where the engines' parsers let them override the
	// flags before them.
	Args []string
}

// Argv is the command line that starts the engine, program first. Every
// argument is its own element.
func (e *Engine) Argv(c Command) []string {
	l := e.Launch
	argv := l.argv(c)
	if c.Executable != "" {
		argv[0] = c.Executable
	}
	if l.KeyEnv == "" && l.KeyFlag != "" && c.APIKey != "" {
		argv = append(argv, l.KeyFlag, c.APIKey)
	}
	if l.Flags {
		argv = append(argv, c.Args...)
	}
	return argv
}

// Environment is what the engine's process needs in its environment: the
// API key, for engines that read it from there, and the engine's own
// settings.
func (e *Engine) Environment(c Command, key string) map[string]string {
	out := map[string]string{}
	if e.Launch.env != nil {
		for k, v := range e.Launch.env(c) {
			out[k] = v
		}
	}
	if e.Launch.KeyEnv != "" && key != "" {
		out[e.Launch.KeyEnv] = key
	}
	return out
}

// TakesKey reports whether a server of the engine can require an API key.
func (e *Engine) TakesKey() bool {
	return e.Launch != nil && (e.Launch.KeyEnv != "" || e.Launch.KeyFlag != "")
}

// ServedModel is the name requests carry and the model list shows for a
// server of the engine started with model and servedName.
func (e *Engine) ServedModel(model, servedName string) string {
	if servedName != "" && e.Launch != nil && e.Launch.ServedName {
		return servedName
	}
	return model
}

// Match finds the listed model id that serves requests for want: the id
// the requests then carry. An empty want takes the first listed.
func (e *Engine) Match(want string, listed []string) (string, bool) {
	if len(listed) == 0 {
		return "", false
	}
	if want == "" {
		return listed[0], true
	}
	for _, id := range listed {
		if id == want {
			return id, true
		}
	}
	switch e.Naming {
	case Tagged:
		w := tagged(want)
		for _, id := range listed {
			if tagged(id) == w {
				return id, true
			}
		}
	case Single:
		if len(listed) == 1 {
			return listed[0], true
		}
	}
	return "", false
}

// tagged is an ollama model name in full: lower case, with its tag, and
// without the default registry and namespace.
func tagged(name string) string {
	n := strings.ToLower(name)
	n = strings.TrimPrefix(n, "registry.ollama.ai/")
	n = strings.TrimPrefix(n, "library/")
	if i := strings.LastIndexByte(n, ':'); i < 0 || strings.Contains(n[i:], "/") {
		n += ":latest"
	}
	return n
}

// registry holds every engine by name.
var registry = map[string]*Engine{}

// register adds an engine; each engine's file registers its own.
func register(e *Engine) {
	if _, dup := registry[e.Name]; dup {
		panic("engines: " + e.Name + " registered twice")
	}
	registry[e.Name] = e
}

// Lookup returns the engine configuration calls name.
func Lookup(name string) (*Engine, bool) {
	e, ok := registry[name]
	return e, ok
}

// Generic is the engine of a server whose kind benchform does not know:
// any OpenAI-compatible endpoint.
func Generic() *Engine { return registry["openai"] }

// Names lists every engine's name, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// All returns every engine, sorted by name.
func All() []*Engine {
	out := make([]*Engine, 0, len(registry))
	for _, n := range Names() {
		out = append(out, registry[n])
	}
	return out
}

// EnvNames lists the environment variables benchform sets for a server
// of the engine: its key's and its own settings.
func (e *Engine) EnvNames() []string {
	var out []string
	if e.Launch == nil {
		return nil
	}
	if e.Launch.KeyEnv != "" {
		out = append(out, e.Launch.KeyEnv)
	}
	if e.Launch.env != nil {
		for k := range e.Launch.env(Command{}) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}
