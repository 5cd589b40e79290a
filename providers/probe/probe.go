// Package probe asks an OpenAI-compatible server whether it serves a
// model: GET /health, then GET /v1/models. The providers that start
// servers, and the one that checks existing endpoints, all wait on the same
// two answers, so they read them the same way here.
package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Options say which server to ask and what it must serve.
type Options struct {
	// Client makes the two requests; each is bounded by the context.
	Client *http.Client
	// BaseURL is the server's root, without /v1.
	BaseURL string
	// APIKey, when set, is sent as a bearer token.
	APIKey string
	// Model must be listed; empty accepts whatever the server lists first.
	Model string
	// HealthOptional accepts a 404 from /health: servers other than vLLM
	// and SGLang may have none.
	HealthOptional bool
	// Header is added to both requests (a User-Agent, say).
	Header http.Header
}

// Result is what a server answered.
type Result struct {
	// Ready is set when /health answered and /v1/models lists the model.
	Ready bool
	// Model is the model found: Options.Model, or the first listed.
	Model string
	// Fatal is set for answers that waiting will not change: a refused
	// key, or a server that lists models but not this one.
	Fatal bool
	// Unreachable is set when the server did not answer at all.
	Unreachable bool
	// Status says what the server answered, for progress lines and
	// errors, such as "/health answered 503" or "refuses the API key
	// (/v1/models answered 401)". Empty when Ready.
	Status string
	// Models are the ids /v1/models listed, sorted.
	Models []string
}

// Check asks the server once.
func Check(ctx context.Context, o Options) Result {
	code, _, err := get(ctx, o, "/health")
	switch {
	case err != nil:
		return Result{Unreachable: true, Status: "/health: " + err.Error()}
	case code == http.StatusNotFound && o.HealthOptional:
	case code != http.StatusOK:
		return Result{Status: fmt.Sprintf("/health answered %d", code)}
	}
	code, body, err := get(ctx, o, "/v1/models")
	switch {
	case err != nil:
		return Result{Unreachable: true, Status: "/v1/models: " + err.Error()}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return Result{Fatal: true, Status: fmt.Sprintf("refuses the API key (/v1/models answered %d)", code)}
	case code != http.StatusOK:
		return Result{Status: fmt.Sprintf("/v1/models answered %d", code)}
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return Result{Status: "/v1/models: field data: not an OpenAI model list"}
	}
	var r Result
	for _, m := range list.Data {
		r.Models = append(r.Models, m.ID)
		if o.Model != "" && m.ID == o.Model {
			r.Ready, r.Model = true, m.ID
		}
	}
	switch {
	case r.Ready:
	case len(r.Models) == 0:
		r.Status = "/v1/models lists no model yet"
	case o.Model == "":
		r.Ready, r.Model = true, r.Models[0]
	default:
		quoted := make([]string, len(r.Models))
		sorted := append([]string(nil), r.Models...)
		sort.Strings(sorted)
		for i, m := range sorted {
			quoted[i] = strconv.Quote(m)
		}
		r.Fatal = true
		r.Status = fmt.Sprintf("does not serve model %q; it serves %s", o.Model, strings.Join(quoted, ", "))
	}
	sort.Strings(r.Models)
	return r
}

// get makes one GET. Its errors leave out the URL, which the caller
// already names and which may carry credentials.
func get(ctx context.Context, o Options, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(o.BaseURL, "/")+path, nil)
	if err != nil {
		return 0, nil, errors.New("invalid server address")
	}
	for k, vs := range o.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if o.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.APIKey)
	}
	client := o.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// A server still starting refuses connections; that, or a server
		// too slow to answer, is said briefly.
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return 0, nil, errors.New("connection refused")
		case errors.Is(err, context.DeadlineExceeded):
			return 0, nil, errors.New("no answer in time")
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}
