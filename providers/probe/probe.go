// Package probe asks an OpenAI-compatible server whether it serves a
// model: its health path, then its model list, where and as its engine
// answers them (package engines). The providers that start servers, and
// the one that checks existing endpoints, all wait on the same two
// answers, so they read them the same way here.
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
	"unicode"

	"github.com/benchform/benchform/engines"
	"github.com/benchform/benchform/internal/jsonerror"
	"github.com/benchform/benchform/internal/safetext"
)

// Options say which server to ask and what it must serve.
type Options struct {
	// Client makes the two requests; each is bounded by the context.
	Client *http.Client
	// BaseURL is the server's root, without /v1.
	BaseURL string
	// APIKey, when set, is sent as a bearer token.
	APIKey string
	// Model must be listed, as the engine matches names; empty accepts
	// whatever the server lists first.
	Model string
	// Engine says where the server answers and how it names models.
	Engine *engines.Engine
	// Header is added to both requests (a User-Agent, say).
	Header http.Header
}

// Result is what a server answered.
type Result struct {
	// Ready is set when /health answered and /v1/models lists the model.
	Ready bool
	// Model is the listed id that serves Options.Model, or the first
	// listed.
	Model string
	// Pull is set when the model is not listed yet but the engine fetches
	// models on request (engines.Launch.Pull): Pull it, then ask again.
	Pull bool
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
	e := o.Engine
	if e.Health != "" {
		code, _, err := get(ctx, o, e.Health, 4<<10)
		switch {
		case err != nil:
			return Result{Unreachable: true, Status: e.Health + ": " + err.Error()}
		case code == http.StatusNotFound && e.HealthOptional:
		case code != http.StatusOK:
			return Result{Status: fmt.Sprintf("%s answered %d", e.Health, code)}
		}
	}
	code, body, err := get(ctx, o, e.Models, maxModelList)
	switch {
	case errors.Is(err, errTooLarge):
		return Result{Fatal: true, Status: fmt.Sprintf("%s: the model list is over the %d MiB benchform reads", e.Models, maxModelList>>20)}
	case err != nil:
		return Result{Unreachable: true, Status: e.Models + ": " + err.Error()}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return Result{Fatal: true, Status: fmt.Sprintf("refuses the API key (%s answered %d)", e.Models, code)}
	case code != http.StatusOK:
		return Result{Status: fmt.Sprintf("%s answered %d", e.Models, code)}
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return Result{Status: fmt.Sprintf("%s: not an OpenAI model list: %s", e.Models, jsonerror.Describe(err))}
	}
	var r Result
	for _, m := range list.Data {
		r.Models = append(r.Models, m.ID)
	}
	r.Model, r.Ready = e.Match(o.Model, r.Models)
	switch {
	case r.Ready:
	case e.Launch != nil && e.Launch.Pull != "" && o.Model != "":
		r.Pull = true
		r.Status = fmt.Sprintf("model %q not pulled yet", o.Model)
	case len(r.Models) == 0:
		r.Status = e.Models + " lists no model yet"
	default:
		sorted := append([]string(nil), r.Models...)
		sort.Strings(sorted)
		var quoted []string
		for _, m := range sorted[:min(len(sorted), shownModels)] {
			quoted = append(quoted, strconv.Quote(m))
		}
		if len(sorted) > shownModels {
			quoted = append(quoted, fmt.Sprintf("and %d more", len(sorted)-shownModels))
		}
		r.Fatal = true
		r.Status = fmt.Sprintf("does not serve model %q; it serves %s", o.Model, strings.Join(quoted, ", "))
	}
	sort.Strings(r.Models)
	return r
}

// Version asks the server for its version where its engine states it
// (engines.Version), and returns "" when it has no such endpoint or does
// not answer as expected: a version is worth recording, not failing for.
func Version(ctx context.Context, o Options) string {
	v := o.Engine.Version
	if v.Path == "" {
		return ""
	}
	code, body, err := get(ctx, o, v.Path, 64<<10)
	if err != nil || code != http.StatusOK {
		return ""
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(fields[v.Field], &s) != nil {
		return ""
	}
	return printable(s, 100)
}

// printable keeps at most n printable characters of what a server said,
// which will be shown on a terminal.
func printable(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			break
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Pull asks the server to fetch the model (engines.Launch.Pull) and waits
// until it has, which for a large model takes minutes: ctx bounds it. The
// answer streams one JSON object per line; progress hears of each status
// it reports, the last line says whether the pull succeeded.
func Pull(ctx context.Context, o Options, progress func(string)) error {
	path := o.Engine.Launch.Pull
	body, _ := json.Marshal(map[string]any{"model": o.Model, "stream": true})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(o.BaseURL, "/")+path, strings.NewReader(string(body)))
	if err != nil {
		return errors.New("invalid server address")
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range o.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if o.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.APIKey)
	}
	// The pull outlasts any per-request timeout of the client, whose
	// transport is reused; ctx alone bounds it.
	client := http.Client{Transport: transport(o.Client)}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("pull %s: %w", o.Model, plainError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("pull %s: %s answered %d: %s", o.Model, path, resp.StatusCode, safetext.Line(strings.TrimSpace(string(b))))
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 64<<20))
	last, said := "", ""
	for {
		var line struct {
			Status    string `json:"status"`
			Error     string `json:"error"`
			Total     int64  `json:"total"`
			Completed int64  `json:"completed"`
		}
		if err := dec.Decode(&line); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("pull %s: %s: %s", o.Model, path, jsonerror.Describe(plainError(err)))
		}
		if line.Error != "" {
			return fmt.Errorf("pull %s: %s", o.Model, safetext.Line(line.Error))
		}
		last = line.Status
		// A line comes with every few kilobytes: progress hears of a new
		// status or of ten more percent.
		msg := "pulling " + o.Model + ": " + line.Status
		if line.Total > 0 {
			msg += fmt.Sprintf(" %d%%", line.Completed*10/line.Total*10)
		}
		if progress != nil && line.Status != "" && msg != said {
			progress(msg)
			said = msg
		}
	}
	if last != "success" {
		return fmt.Errorf("pull %s: the answer ended without success (last status %q)", o.Model, last)
	}
	return nil
}

func transport(c *http.Client) http.RoundTripper {
	if c != nil && c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// plainError drops the URL from a transport error; the caller names the
// server, and the URL may carry credentials.
func plainError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// maxModelList bounds the model list read: generous, for servers that
// list thousands of models, yet bounded.
const maxModelList = 16 << 20

// shownModels is how many listed models an error names.
const shownModels = 20

// errTooLarge is get's error for a body over its bound.
var errTooLarge = errors.New("answer too large")

// get makes one GET and reads at most limit bytes of the answer; a longer
// one is errTooLarge. Its errors leave out the URL, which the caller
// already names and which may carry credentials.
func get(ctx context.Context, o Options, path string, limit int64) (int, []byte, error) {
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && int64(len(body)) > limit {
		err = errTooLarge
	}
	return resp.StatusCode, body, err
}
