package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/benchform/benchform/engines"
)

func engine(t *testing.T, name string) *engines.Engine {
	t.Helper()
	e, ok := engines.Lookup(name)
	if !ok {
		t.Fatalf("no engine %q", name)
	}
	return e
}

func TestCheck(t *testing.T) {
	server := func(health int, models string, key string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/health":
				w.WriteHeader(health)
			case "/v1/models":
				if key != "" && r.Header.Get("Authorization") != "Bearer "+key {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.Write([]byte(models))
			}
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	list := `{"data":[{"id":"qwen"},{"id":"llama"}]}`
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	tests := []struct {
		name string
		srv  *httptest.Server
		url  string
		opts Options
		want Result
	}{
		{"model listed", server(200, list, ""), "", Options{Model: "llama"}, Result{Ready: true, Model: "llama", Models: []string{"llama", "qwen"}}},
		{"first model when none asked", server(200, list, ""), "", Options{}, Result{Ready: true, Model: "qwen", Models: []string{"llama", "qwen"}}},
		{"still loading", server(503, list, ""), "", Options{Model: "qwen"}, Result{Status: "/health answered 503"}},
		{"no /health where it is optional", server(404, list, ""), "", Options{Model: "qwen", Engine: engine(t, "openai")}, Result{Ready: true, Model: "qwen", Models: []string{"llama", "qwen"}}},
		{"no /health where it is required", server(404, list, ""), "", Options{Model: "qwen"}, Result{Status: "/health answered 404"}},
		{"model not served", server(200, list, ""), "", Options{Model: "mistral"}, Result{Fatal: true, Status: `does not serve model "mistral"; it serves "llama", "qwen"`, Models: []string{"llama", "qwen"}}},
		{"no model yet", server(200, `{"data":[]}`, ""), "", Options{Model: "qwen"}, Result{Status: "/v1/models lists no model yet"}},
		{"not a model list", server(200, `[1]`, ""), "", Options{Model: "qwen"}, Result{Status: "/v1/models: not an OpenAI model list: got a JSON array, want an object"}},
		{"a model list past 1 MiB", server(200, bigList(40_000, "qwen"), ""), "", Options{Model: "qwen"}, Result{Ready: true, Model: "qwen", Models: bigModels(40_000, "qwen")}},
		{"a model list past 16 MiB", server(200, `{"data":[{"id":"`+strings.Repeat("q", 17<<20)+`"}]}`, ""), "", Options{Model: "qwen"},
			Result{Fatal: true, Status: "/v1/models: the model list is over the 16 MiB benchform reads"}},
		{"a long list without the model", server(200, bigList(25, ""), ""), "", Options{Model: "qwen"},
			Result{Fatal: true, Status: `does not serve model "qwen"; it serves "model-00000", "model-00001", "model-00002", "model-00003", "model-00004", "model-00005", "model-00006", "model-00007", "model-00008", "model-00009", "model-00010", "model-00011", "model-00012", "model-00013", "model-00014", "model-00015", "model-00016", "model-00017", "model-00018", "model-00019", and 5 more`,
				Models: bigModels(25, "")}},
		{"key refused", server(200, list, "right"), "", Options{Model: "qwen", APIKey: "wrong"}, Result{Fatal: true, Status: "refuses the API key (/v1/models answered 401)"}},
		{"key accepted", server(200, list, "right"), "", Options{Model: "qwen", APIKey: "right"}, Result{Ready: true, Model: "qwen", Models: []string{"llama", "qwen"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.BaseURL = tt.srv.URL
			if tt.opts.Engine == nil {
				tt.opts.Engine = engine(t, "vllm")
			}
			if diff := cmp.Diff(tt.want, Check(context.Background(), tt.opts)); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
		})
	}
	if r := Check(context.Background(), Options{BaseURL: down.URL, Model: "x", Engine: engine(t, "vllm")}); r.Ready || !r.Unreachable || r.Status == "" || r.Fatal {
		t.Errorf("unreachable server: %+v", r)
	}
}

// fakeOllama serves models only once pulled, as ollama does: a pull
// streams its progress one JSON object per line.
func fakeOllama(t *testing.T, failPull bool) *httptest.Server {
	var mu sync.Mutex
	pulled := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/":
			w.Write([]byte("Ollama is running"))
		case r.URL.Path == "/v1/models":
			mu.Lock()
			defer mu.Unlock()
			list := `{"object":"list","data":[`
			if pulled["tiny"] {
				list += `{"id":"tiny:latest","object":"model","owned_by":"library"}`
			}
			w.Write([]byte(list + "]}"))
		case r.URL.Path == "/api/pull" && r.Method == http.MethodPost:
			var body struct {
				Model  string `json:"model"`
				Stream bool   `json:"stream"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !body.Stream {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			if failPull {
				w.Write([]byte(`{"status":"pulling manifest"}` + "\n" + `{"error":"pull model manifest: file does not exist"}` + "\n"))
				return
			}
			for _, line := range []string{
				`{"status":"pulling manifest"}`,
				`{"status":"pulling 74701a8c35f6","digest":"sha256:74701a8c35f6","total":1000,"completed":0}`,
				`{"status":"pulling 74701a8c35f6","digest":"sha256:74701a8c35f6","total":1000,"completed":550}`,
				`{"status":"pulling 74701a8c35f6","digest":"sha256:74701a8c35f6","total":1000,"completed":1000}`,
				`{"status":"verifying sha256 digest"}`,
				`{"status":"success"}`,
			} {
				w.Write([]byte(line + "\n"))
			}
			mu.Lock()
			pulled[strings.TrimSuffix(body.Model, ":latest")] = true
			mu.Unlock()
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPull(t *testing.T) {
	srv := fakeOllama(t, false)
	o := Options{BaseURL: srv.URL, Model: "tiny", Engine: engine(t, "ollama")}
	ctx := context.Background()
	if r := Check(ctx, o); r.Ready || !r.Pull || r.Fatal || r.Status != `model "tiny" not pulled yet` {
		t.Fatalf("before the pull: %+v", r)
	}
	var progress []string
	if err := Pull(ctx, o, func(msg string) { progress = append(progress, msg) }); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pulling tiny: pulling manifest",
		"pulling tiny: pulling 74701a8c35f6 0%",
		"pulling tiny: pulling 74701a8c35f6 50%",
		"pulling tiny: pulling 74701a8c35f6 100%",
		"pulling tiny: verifying sha256 digest",
		"pulling tiny: success",
	}
	if diff := cmp.Diff(want, progress); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	if r := Check(ctx, o); !r.Ready || r.Model != "tiny:latest" {
		t.Errorf("after the pull: %+v, want ready with tiny:latest", r)
	}

	failing := Options{BaseURL: fakeOllama(t, true).URL, Model: "tiny", Engine: engine(t, "ollama")}
	if err := Pull(ctx, failing, nil); err == nil || err.Error() != "pull tiny: pull model manifest: file does not exist" {
		t.Errorf("failed pull: %v", err)
	}
}

func TestVersion(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/version":
			w.Write([]byte(`{"version":"0.11.0\u001b]0;pwned\u0007"}`))
		case "/api/version":
			w.Write([]byte(`not json`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, tt := range []struct{ engine, want string }{
		// Control characters a server slips in are dropped.
		{"vllm", "0.11.0]0;pwned"},
		{"ollama", ""},
		{"openai", ""},
	} {
		if got := Version(ctx, Options{BaseURL: srv.URL, Engine: engine(t, tt.engine)}); got != tt.want {
			t.Errorf("%s: Version = %q, want %q", tt.engine, got, tt.want)
		}
	}
}

// bigModels is n model ids, and last after them when it is not empty,
// sorted as Check sorts them.
func bigModels(n int, last string) []string {
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("model-%05d", i))
	}
	if last != "" {
		ids = append(ids, last)
	}
	sort.Strings(ids)
	return ids
}

// bigList is an OpenAI model list of bigModels(n, last), about 25 bytes
// a model.
func bigList(n int, last string) string {
	var b strings.Builder
	b.WriteString(`{"data":[`)
	for i, id := range bigModels(n, last) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%q}`, id)
	}
	b.WriteString("]}")
	return b.String()
}
