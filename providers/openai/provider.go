// Package openai is the provider for servers that already run and speak the
// OpenAI API: a vLLM on localhost:8000, a hosted endpoint. Like a Terraform
// data source it only reads: it checks that the endpoint answers and serves
// the model, and hands the endpoint to the workload. It creates, changes and
// destroys nothing.
package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/engines"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/providers/probe"
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
	// engine is what runs at the endpoint, as far as the configuration
	// says: it knows where the server answers and how it names models.
	engine *engines.Engine
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
	e, ok := engines.Lookup(str("engine"))
	if !ok {
		e = engines.Generic()
	}
	return endpointConfig{
		endpoint: strings.TrimSuffix(str("endpoint"), "/"),
		model:    str("model"),
		apiKey:   str("api_key"),
		engine:   e,
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
	r := probe.Check(ctx, probe.Options{Client: p.client, BaseURL: cfg.endpoint, APIKey: cfg.apiKey, Model: cfg.model, Engine: cfg.engine})
	switch {
	case r.Ready:
		return r.Model, nil
	case r.Pull:
		// The server is not benchform's to change: fetching a model is
		// its owner's call.
		return "", fmt.Errorf("endpoint %s has not pulled model %q; pull it there first (it serves %s)", redactURL(base), cfg.model, listed(r.Models))
	case r.Unreachable:
		return "", fmt.Errorf("endpoint %s is unreachable: %s", redactURL(base), r.Status)
	case r.Fatal && len(r.Models) == 0:
		return "", fmt.Errorf("endpoint %s %s; set api_key", redactURL(base), r.Status)
	default:
		return "", fmt.Errorf("endpoint %s %s", redactURL(base), r.Status)
	}
}

func listed(models []string) string {
	if len(models) == 0 {
		return "no model yet"
	}
	return strings.Join(models, ", ")
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	return c.String()
}
