// Package openai is the provider for servers that already run and speak the
// OpenAI API: a vLLM on localhost:8000, a hosted endpoint. Like a Terraform
// data source it only reads: it checks that the endpoint answers and serves
// the model, and hands the endpoint to the workload. It creates, changes and
// destroys nothing.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/providers"
)

// Provider checks existing OpenAI-compatible endpoints.
type Provider struct {
	client *http.Client
}

var _ providers.Provider = (*Provider)(nil)

// CheckTimeout bounds each request the provider makes to an endpoint.
const CheckTimeout = 10 * time.Second

// New returns a provider using its own HTTP client.
func New() *Provider {
	return &Provider{client: &http.Client{Timeout: CheckTimeout}}
}

// endpointConfig is what the provider reads of a server block.
type endpointConfig struct {
	endpoint string
	model    string // "" when the configuration names none
	apiKey   string
}

func decodeConfig(v cty.Value) (endpointConfig, bool) {
	if v == cty.NilVal || v.IsNull() || !v.IsWhollyKnown() {
		return endpointConfig{}, false
	}
	str := func(name string) string {
		if !v.Type().HasAttribute(name) {
			return ""
		}
		a := v.GetAttr(name)
		if a.IsNull() || a.Type() != cty.String {
			return ""
		}
		return a.AsString()
	}
	return endpointConfig{
		endpoint: strings.TrimSuffix(str("endpoint"), "/"),
		model:    str("model"),
		apiKey:   str("api_key"),
	}, true
}

// Plan checks, as a data source does, that the endpoint answers and serves
// the model, so that a wrong address or model name fails the plan rather
// than the benchmark. When the configuration names no model, the first one
// the endpoint lists is used.
func (p *Provider) Plan(ctx context.Context, req providers.PlanRequest) (providers.PlanResponse, error) {
	cfg, known := decodeConfig(req.Config)
	if !known {
		return providers.PlanResponse{Planned: attrs(cty.UnknownVal(cty.String), cty.UnknownVal(cty.String))}, nil
	}
	model, err := p.check(ctx, cfg)
	if err != nil {
		return providers.PlanResponse{}, err
	}
	return providers.PlanResponse{
		Planned:         attrs(cty.StringVal(cfg.endpoint), cty.StringVal(model)),
		RequiresReplace: []string{"endpoint"},
	}, nil
}

// Create checks the endpoint again, at apply time, and records it.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) (providers.State, error) {
	cfg, known := decodeConfig(req.Config)
	if !known {
		return providers.State{}, errors.New("configuration is not fully known")
	}
	model, err := p.check(ctx, cfg)
	if err != nil {
		return providers.State{}, err
	}
	return providers.State{ID: cfg.endpoint, Name: req.Name, Attrs: attrs(cty.StringVal(cfg.endpoint), cty.StringVal(model))}, nil
}

// Read returns what is stored: an endpoint benchform does not own cannot
// drift out of existence, and refreshing must not fail a destroy because
// the endpoint is down.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) (providers.ReadResponse, error) {
	return providers.ReadResponse{State: req.Prior, Exists: req.Prior.ID != ""}, nil
}

// Update records a changed model or key after checking it.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) (providers.State, error) {
	st, err := p.Create(ctx, providers.CreateRequest{Addr: req.Addr, Kind: req.Kind, Name: req.Prior.Name, Config: req.Config})
	return st, err
}

// Delete forgets the endpoint; the server itself is not benchform's.
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) error { return nil }

// Connect hands the endpoint to a workload.
func (p *Provider) Connect(ctx context.Context, req providers.ConnectRequest) (providers.Endpoint, error) {
	cfg, known := decodeConfig(req.Config)
	if !known {
		return providers.Endpoint{}, errors.New("configuration is not fully known")
	}
	model := cfg.model
	if model == "" && req.State.Attrs != cty.NilVal && req.State.Attrs.Type().IsObjectType() && req.State.Attrs.Type().HasAttribute("model") {
		if m := req.State.Attrs.GetAttr("model"); !m.IsNull() && m.IsKnown() {
			model = m.AsString()
		}
	}
	return providers.Endpoint{BaseURL: cfg.endpoint, APIKey: cfg.apiKey, Model: model}, nil
}

func attrs(endpoint, model cty.Value) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{"endpoint": endpoint, "model": model})
}

// check asks /health (when the server has one) and /v1/models, and returns
// the model requests will name.
func (p *Provider) check(ctx context.Context, cfg endpointConfig) (string, error) {
	base, err := url.Parse(cfg.endpoint)
	if err != nil || base.Host == "" {
		return "", fmt.Errorf("endpoint %q is not a URL", cfg.endpoint)
	}
	status, _, err := p.get(ctx, cfg, "/health")
	if err != nil {
		return "", fmt.Errorf("endpoint %s is unreachable: %w", redactURL(base), err)
	}
	// Servers without /health answer 404; vLLM and SGLang answer 200 once
	// the model is loaded and an error status before.
	if status != http.StatusOK && status != http.StatusNotFound {
		return "", fmt.Errorf("endpoint %s is not healthy: GET /health answered %d", redactURL(base), status)
	}
	status, body, err := p.get(ctx, cfg, "/v1/models")
	if err != nil {
		return "", fmt.Errorf("endpoint %s is unreachable: %w", redactURL(base), err)
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "", fmt.Errorf("endpoint %s refused the API key (GET /v1/models answered %d); set api_key", redactURL(base), status)
	case status != http.StatusOK:
		return "", fmt.Errorf("endpoint %s: GET /v1/models answered %d", redactURL(base), status)
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return "", fmt.Errorf("endpoint %s: GET /v1/models: data: not an OpenAI model list: %v", redactURL(base), err)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
		if cfg.model != "" && m.ID == cfg.model {
			return m.ID, nil
		}
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("endpoint %s serves no model (GET /v1/models listed none)", redactURL(base))
	}
	if cfg.model == "" {
		return ids[0], nil
	}
	sort.Strings(ids)
	return "", fmt.Errorf("endpoint %s does not serve model %q; it serves %s", redactURL(base), cfg.model, strings.Join(quote(ids), ", "))
}

func (p *Provider) get(ctx context.Context, cfg endpointConfig, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.endpoint+path, nil)
	if err != nil {
		return 0, nil, err
	}
	if cfg.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.apiKey)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			// url.Error repeats the URL, which may carry credentials.
			return 0, nil, uerr.Err
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	return c.String()
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
