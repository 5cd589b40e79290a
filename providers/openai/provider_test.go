package openai

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/providers"
)

// fakeServer answers /health and /v1/models like vLLM, optionally
// requiring a key and optionally without /health.
func fakeServer(t *testing.T, key string, health bool, models ...string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			if !health {
				http.NotFound(w, r)
			}
		case "/v1/models":
			if key != "" && r.Header.Get("Authorization") != "Bearer "+key {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			var data []string
			for _, m := range models {
				data = append(data, `{"id":"`+m+`","object":"model"}`)
			}
			w.Write([]byte(`{"object":"list","data":[` + strings.Join(data, ",") + `]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func config(endpoint, model, key string) cty.Value {
	v := func(s string) cty.Value {
		if s == "" {
			return cty.NullVal(cty.String)
		}
		return cty.StringVal(s)
	}
	return cty.ObjectVal(map[string]cty.Value{"endpoint": v(endpoint), "model": v(model), "api_key": v(key), "engine": cty.StringVal("openai")})
}

func TestPlanChecksEndpoint(t *testing.T) {
	withModels := fakeServer(t, "", true, "qwen", "llama")
	noHealth := fakeServer(t, "", false, "qwen")
	keyed := fakeServer(t, "right-key", true, "qwen")
	empty := fakeServer(t, "", true)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	tests := []struct {
		name      string
		config    cty.Value
		wantModel string
		wantErr   string
	}{
		{"model served", config(withModels.URL, "llama", ""), "llama", ""},
		{"first model when none named", config(withModels.URL, "", ""), "qwen", ""},
		{"server without /health", config(noHealth.URL, "qwen", ""), "qwen", ""},
		{"key accepted", config(keyed.URL, "qwen", "right-key"), "qwen", ""},
		{"model not served", config(withModels.URL, "mistral", ""), "", `does not serve model "mistral"; it serves "llama", "qwen"`},
		{"no model at all", config(empty.URL, "", ""), "", "lists no model yet"},
		{"key refused", config(keyed.URL, "qwen", "wrong-key"), "", "refuses the API key (/v1/models answered 401); set api_key"},
		{"unreachable", config(downURL, "qwen", ""), "", "is unreachable"},
	}
	p := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := p.Plan(context.Background(), providers.PlanRequest{Addr: "server.x", Kind: providers.KindServer, Config: tt.config})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "wrong-key") {
					t.Errorf("error shows the API key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Planned.GetAttr("model").AsString(); got != tt.wantModel {
				t.Errorf("model = %q, want %q", got, tt.wantModel)
			}
		})
	}
}

func TestPlanWithUnknownConfigDefersTheCheck(t *testing.T) {
	cfg := cty.ObjectVal(map[string]cty.Value{"endpoint": cty.UnknownVal(cty.String), "model": cty.StringVal("m"), "api_key": cty.NullVal(cty.String)})
	resp, err := New().Plan(context.Background(), providers.PlanRequest{Addr: "server.x", Kind: providers.KindServer, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Planned.GetAttr("endpoint").IsKnown() {
		t.Errorf("endpoint is known before apply")
	}
}

func TestLifecycle(t *testing.T) {
	srv := fakeServer(t, "k", true, "qwen")
	p := New()
	ctx := context.Background()
	cfg := config(srv.URL, "", "k")
	st, err := p.Create(ctx, providers.CreateRequest{Addr: "server.x", Kind: providers.KindServer, Name: "n", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != srv.URL || st.Attrs.GetAttr("model").AsString() != "qwen" {
		t.Errorf("state = %+v", st)
	}
	read, err := p.Read(ctx, providers.ReadRequest{Addr: "server.x", Kind: providers.KindServer, Prior: st})
	if err != nil || !read.Exists {
		t.Errorf("read = %+v, %v", read, err)
	}
	ep, err := p.Connect(ctx, providers.ConnectRequest{Addr: "server.x", State: st, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(providers.Endpoint{BaseURL: srv.URL, APIKey: "k", Model: "qwen"}, ep); diff != "" {
		t.Errorf("endpoint (-want +got):\n%s", diff)
	}
	if err := p.Delete(ctx, providers.DeleteRequest{Addr: "server.x", Kind: providers.KindServer, Prior: st}); err != nil {
		t.Errorf("delete: %v", err)
	}
}
