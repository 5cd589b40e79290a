package engines

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustLookup(t *testing.T, name string) *Engine {
	t.Helper()
	e, ok := Lookup(name)
	if !ok {
		t.Fatalf("no engine %q", name)
	}
	return e
}

// TestTable checks what every engine must say for the code that reads the
// table to work: a launchable engine has an image with a pinned tag and a
// port, a health and model path; metrics families carry their engine's
// prefix, so that a scrape is attributed to the right engine.
func TestTable(t *testing.T) {
	for _, e := range All() {
		t.Run(e.Name, func(t *testing.T) {
			if e.Models == "" {
				t.Error("no model-list path")
			}
			if e.Launch != nil {
				l := e.Launch
				if l.Port == 0 || l.argv == nil {
					t.Errorf("launch without port or command line: %+v", l)
				}
				if l.Image != "" && (!strings.Contains(l.Image, ":") || strings.HasSuffix(l.Image, ":latest")) {
					t.Errorf("image %q has no pinned tag", l.Image)
				}
				if l.KeyEnv != "" && l.KeyFlag != "" {
					t.Error("a key is passed one way only")
				}
			}
			if e.Launch == nil && e.Health == "" && !e.BuiltIn {
				t.Error("an endpoint engine needs a health path, optional or not")
			}
			if m := e.Metrics; m != nil {
				if m.Path == "" || m.Prefix == "" {
					t.Errorf("metrics without path or prefix: %+v", m)
				}
				for q, fams := range m.Families {
					if len(fams) == 0 {
						t.Errorf("%s: no family", q)
					}
					for _, f := range fams {
						if !strings.HasPrefix(f.Name, m.Prefix) {
							t.Errorf("%s: family %s lacks the prefix %s", q, f.Name, m.Prefix)
						}
					}
				}
			}
			for _, f := range e.Request.TokenLimit {
				if f != MaxTokens && f != MaxCompletionTokens {
					t.Errorf("unknown token-limit field %q", f)
				}
			}
			// The client reads these two fields and these two counts only.
			if f := e.Reasoning.Field; f != "" && f != ReasoningField && f != ReasoningContentField {
				t.Errorf("unknown reasoning field %q", f)
			}
			if u := e.Reasoning.Usage; u != "" && u != UsageDetails && u != UsageTopLevel {
				t.Errorf("unknown reasoning usage %q", u)
			}
		})
	}
}

func TestArgv(t *testing.T) {
	tests := []struct {
		engine  string
		c       Command
		key     string
		want    []string
		wantEnv map[string]string
	}{
		{
			engine: "vllm",
			c:      Command{Model: "org/m", ServedName: "chat", Host: "0.0.0.0", Port: 8000, GPUs: 2, APIKey: "k", Args: []string{"--max-model-len", "8192"}},
			key:    "k",
			want: []string{"vllm", "serve", "org/m", "--host", "0.0.0.0", "--port", "8000", "--tensor-parallel-size", "2",
				"--served-model-name", "chat", "--max-model-len", "8192"},
			wantEnv: map[string]string{"VLLM_API_KEY": "k"},
		},
		{
			engine:  "vllm",
			c:       Command{Executable: "/opt/vllm", Model: "m", Host: "127.0.0.1", Port: 1},
			want:    []string{"/opt/vllm", "serve", "m", "--host", "127.0.0.1", "--port", "1"},
			wantEnv: map[string]string{},
		},
		{
			engine: "sglang",
			c:      Command{Model: "m", ServedName: "s", Host: "127.0.0.1", Port: 30000, GPUs: 4, APIKey: "k", Args: []string{"--mem-fraction-static", "0.8"}},
			key:    "k",
			want: []string{"python3", "-m", "sglang.launch_server", "--model-path", "m", "--host", "127.0.0.1", "--port", "30000", "--tp", "4",
				"--enable-metrics", "--served-model-name", "s", "--api-key", "k", "--mem-fraction-static", "0.8"},
			wantEnv: map[string]string{},
		},
		{
			engine: "llama.cpp",
			c:      Command{Model: "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", Host: "0.0.0.0", Port: 8080, GPUs: 2, APIKey: "k", Args: []string{"-c", "8192"}},
			key:    "k",
			want: []string{"llama-server", "-hf", "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", "--host", "0.0.0.0", "--port", "8080",
				"--alias", "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", "-ngl", "999", "--metrics", "-c", "8192"},
			wantEnv: map[string]string{"LLAMA_API_KEY": "k"},
		},
		{
			engine:  "llama.cpp",
			c:       Command{Model: "/models/qwen-q4.gguf", ServedName: "qwen", Host: "127.0.0.1", Port: 1},
			want:    []string{"llama-server", "-m", "/models/qwen-q4.gguf", "--host", "127.0.0.1", "--port", "1", "--alias", "qwen", "-ngl", "999", "--metrics"},
			wantEnv: map[string]string{},
		},
		{
			// TGI has no served name: the model is listed under its id.
			engine:  "tgi",
			c:       Command{Model: "Qwen/Qwen2.5-7B-Instruct", ServedName: "ignored", Host: "0.0.0.0", Port: 8080, GPUs: 2, APIKey: "k", Args: []string{"--max-total-tokens", "8192"}},
			key:     "k",
			want:    []string{"text-generation-launcher", "--model-id", "Qwen/Qwen2.5-7B-Instruct", "--hostname", "0.0.0.0", "--port", "8080", "--num-shard", "2", "--max-total-tokens", "8192"},
			wantEnv: map[string]string{"API_KEY": "k"},
		},
		{
			// ollama takes no flags and no key; its address goes in its
			// environment.
			engine:  "ollama",
			c:       Command{Model: "llama3.2:1b", Host: "0.0.0.0", Port: 11434, APIKey: "k", Args: []string{"--ignored"}},
			key:     "k",
			want:    []string{"ollama", "serve"},
			wantEnv: map[string]string{"OLLAMA_HOST": "0.0.0.0:11434"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.engine, func(t *testing.T) {
			e := mustLookup(t, tt.engine)
			if diff := cmp.Diff(tt.want, e.Argv(tt.c)); diff != "" {
				t.Errorf("Argv (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEnv, e.Environment(tt.c, tt.key)); diff != "" {
				t.Errorf("Environment (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServedModel(t *testing.T) {
	for _, tt := range []struct{ engine, model, served, want string }{
		{"vllm", "m", "chat", "chat"},
		{"vllm", "m", "", "m"},
		{"tgi", "m", "chat", "m"},
		{"ollama", "tiny", "chat", "tiny"},
	} {
		if got := mustLookup(t, tt.engine).ServedModel(tt.model, tt.served); got != tt.want {
			t.Errorf("%s.ServedModel(%q, %q) = %q, want %q", tt.engine, tt.model, tt.served, got, tt.want)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		engine, want string
		listed       []string
		wantID       string
		wantOK       bool
	}{
		{"vllm", "Qwen/Qwen2.5-7B", []string{"Qwen/Qwen2.5-7B"}, "Qwen/Qwen2.5-7B", true},
		{"vllm", "qwen/qwen2.5-7b", []string{"Qwen/Qwen2.5-7B"}, "", false},
		{"vllm", "", []string{"b", "a"}, "b", true},
		{"vllm", "x", nil, "", false},
		{"openai", "a", []string{"b"}, "", false},
		// llama.cpp serves its one model under any name.
		{"llama.cpp", "qwen", []string{"/models/qwen-q4.gguf"}, "/models/qwen-q4.gguf", true},
		{"llama.cpp", "qwen", []string{"a", "b"}, "", false},
		{"tgi", "anything", []string{"Qwen/Qwen2.5-7B-Instruct"}, "Qwen/Qwen2.5-7B-Instruct", true},
		// ollama accepts a name without its tag, in any case, with or
		// without the default namespace.
		{"ollama", "tiny", []string{"llama3.2:1b", "tiny:latest"}, "tiny:latest", true},
		{"ollama", "Library/Tiny", []string{"tiny:latest"}, "tiny:latest", true},
		{"ollama", "llama3.2:1b", []string{"llama3.2:1b"}, "llama3.2:1b", true},
		{"ollama", "llama3.2", []string{"llama3.2:1b"}, "", false},
		{"ollama", "hf.co/org/repo:Q4_K_M", []string{"hf.co/org/repo:Q4_K_M"}, "hf.co/org/repo:Q4_K_M", true},
		{"ollama", "hf.co/org/repo", []string{"hf.co/org/repo:latest"}, "hf.co/org/repo:latest", true},
	}
	for _, tt := range tests {
		e := mustLookup(t, tt.engine)
		id, ok := e.Match(tt.want, tt.listed)
		if id != tt.wantID || ok != tt.wantOK {
			t.Errorf("%s.Match(%q, %q) = %q, %v; want %q, %v", tt.engine, tt.want, tt.listed, id, ok, tt.wantID, tt.wantOK)
		}
	}
}

// TestFamilies checks the lookups telemetry reads the table through: the
// simulator's families are vLLM's and count once, and a family belongs to
// the engine whose prefix it has.
func TestFamilies(t *testing.T) {
	names := map[string]int{}
	for _, f := range FamiliesOf(PromptTokens) {
		names[f.Name]++
	}
	if names["vllm:prompt_tokens_total"] != 1 || names["sglang:prompt_tokens_total"] != 1 {
		t.Errorf("prompt-token families: %v", names)
	}
	for name, want := range map[string]string{"vllm:num_requests_running": "vllm", "sglang:num_running_reqs": "sglang", "process_start_time_seconds": ""} {
		e, ok := ByFamily(name)
		got := ""
		if ok {
			got = e.Name
		}
		if got != want {
			t.Errorf("ByFamily(%s) = %q, want %q", name, got, want)
		}
	}
}
