package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
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
		{"not a model list", server(200, `[1]`, ""), "", Options{Model: "qwen"}, Result{Status: "/v1/models: field data: not an OpenAI model list"}},
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
