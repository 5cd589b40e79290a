package simulated

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sync"
	"time"

	"github.com/benchform/benchform/providers"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Provider manages simulated servers (engine = "simulated"). It is safe for
// concurrent use.
//
// A simulated server is a definition, not a rented thing: it runs inside the
// process that applies the configuration, keyed by its address, and stops
// with it. The endpoint stored in state is meaningful only during the apply
// that started the server; a later process that needs the server calls
// Connect, which starts a new one.
type Provider struct {
	mu      sync.Mutex
	servers map[string]*instance // by resource address
}

var _ providers.Provider = (*Provider)(nil)

// instance is a running server and who keeps it running.
type instance struct {
	srv     *Server
	baseURL string
	// owned is set for servers started by Create or Update: they run until
	// Delete or Close. Servers started by Connect stop with their last
	// Release.
	owned bool
	refs  int
}

// New returns a Provider with no servers.
func New() *Provider {
	return &Provider{servers: make(map[string]*instance)}
}

// Close stops every server the provider started, in use or not.
func (p *Provider) Close() error {
	p.mu.Lock()
	all := p.servers
	p.servers = make(map[string]*instance)
	p.mu.Unlock()
	var errs []error
	for addr, inst := range all {
		if err := inst.srv.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		}
	}
	return errors.Join(errs...)
}

// Plan checks what is known of the configuration; values that are not yet
// known are left for Create to check. Planned has the served model name and
// the endpoint, which stays the prior one while the model name is unchanged
// and is otherwise known only after apply. Changes to the timing model are
// not visible in Planned, as state holds only the name and endpoint: a
// caller that updates on a changed configuration gets a new endpoint from
// Update. Nothing forces replacement: a simulated server restarts in place.
func (p *Provider) Plan(ctx context.Context, req providers.PlanRequest) (providers.PlanResponse, error) {
	if err := checkKind(req.Kind); err != nil {
		return providers.PlanResponse{}, err
	}
	m, modelKnown, err := decodeConfig(req.Config, true)
	if err != nil {
		return providers.PlanResponse{}, err
	}
	model := cty.UnknownVal(cty.String)
	if modelKnown {
		model = cty.StringVal(m.ServedModel)
	}
	endpoint := cty.UnknownVal(cty.String)
	if req.Prior != nil && modelKnown {
		prior := stateAttr(req.Prior.Attrs, "model")
		if prior == m.ServedModel {
			if e := stateAttrValue(req.Prior.Attrs, "endpoint"); e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
				endpoint = e
			}
		}
	}
	return providers.PlanResponse{
		Planned: cty.ObjectVal(map[string]cty.Value{"model": model, "endpoint": endpoint}),
	}, nil
}

// Create starts a server on a free loopback port. It keeps running until
// Update, Delete or Close.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) (providers.State, error) {
	if err := checkKind(req.Kind); err != nil {
		return providers.State{}, err
	}
	m, err := ModelFromConfig(req.Config)
	if err != nil {
		return providers.State{}, err
	}
	inst, err := p.replace(req.Addr, m)
	if err != nil {
		return providers.State{}, err
	}
	id, err := newID()
	if err != nil {
		return providers.State{}, err
	}
	return providers.State{ID: id, Name: req.Name, Attrs: attrs(inst)}, nil
}

// Read reports a stored server as it was: there is nothing outside this
// process to refresh. A state without an ID is a create that never
// finished, which left nothing behind, so it does not exist.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) (providers.ReadResponse, error) {
	if err := checkKind(req.Kind); err != nil {
		return providers.ReadResponse{}, err
	}
	if req.Prior.ID == "" {
		return providers.ReadResponse{State: req.Prior, Exists: false}, nil
	}
	return providers.ReadResponse{State: req.Prior, Exists: true}, nil
}

// Update stops the server running for the address, if any, and starts one
// from the new configuration, on a new endpoint.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) (providers.State, error) {
	if err := checkKind(req.Kind); err != nil {
		return providers.State{}, err
	}
	m, err := ModelFromConfig(req.Config)
	if err != nil {
		return providers.State{}, err
	}
	inst, err := p.replace(req.Addr, m)
	if err != nil {
		return providers.State{}, err
	}
	id := req.Prior.ID
	if id == "" {
		if id, err = newID(); err != nil {
			return providers.State{}, err
		}
	}
	return providers.State{ID: id, Name: req.Prior.Name, Attrs: attrs(inst)}, nil
}

// Delete stops the server for the address, ending any stream still using
// it. Deleting a server that is not running succeeds.
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) error {
	if err := checkKind(req.Kind); err != nil {
		return err
	}
	p.mu.Lock()
	inst := p.servers[req.Addr]
	delete(p.servers, req.Addr)
	p.mu.Unlock()
	if inst == nil {
		return nil
	}
	return inst.srv.Close()
}

// Connect returns the server running for the address, or starts one from
// req.Config (from req.State's model name when Config is null, with default
// timings and no API key, as state holds neither). A server started here
// stops when the last of its endpoints is released; one started by Create
// or Update keeps running.
func (p *Provider) Connect(ctx context.Context, req providers.ConnectRequest) (providers.Endpoint, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	inst := p.servers[req.Addr]
	if inst == nil {
		m, err := connectModel(req)
		if err != nil {
			return providers.Endpoint{}, err
		}
		// Started under the lock so that concurrent Connects for one
		// address share one server; starting only opens a listener.
		if inst, err = start(m); err != nil {
			return providers.Endpoint{}, err
		}
		p.servers[req.Addr] = inst
	}
	inst.refs++
	m := inst.srv.Model()
	var once sync.Once
	return providers.Endpoint{
		BaseURL: inst.baseURL,
		APIKey:  m.APIKey,
		Model:   m.ServedModel,
		Release: func() { once.Do(func() { p.release(req.Addr, inst) }) },
	}, nil
}

func (p *Provider) release(addr string, inst *instance) {
	p.mu.Lock()
	inst.refs--
	stop := inst.refs == 0 && !inst.owned && p.servers[addr] == inst
	if stop {
		delete(p.servers, addr)
	}
	p.mu.Unlock()
	if stop {
		_ = inst.srv.Close() // nothing is waiting for the error
	}
}

// replace starts a server owned by the address and stops the one it
// replaces, if any.
func (p *Provider) replace(addr string, m Model) (*instance, error) {
	inst, err := start(m)
	if err != nil {
		return nil, err
	}
	inst.owned = true
	p.mu.Lock()
	old := p.servers[addr]
	p.servers[addr] = inst
	p.mu.Unlock()
	if old != nil {
		// The old server is stopped either way; an error closing it says
		// nothing about the new one, which is what the caller asked for.
		_ = old.srv.Close()
	}
	return inst, nil
}

func start(m Model) (*instance, error) {
	srv, err := NewServer(m)
	if err != nil {
		return nil, err
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &instance{srv: srv, baseURL: url}, nil
}

func connectModel(req providers.ConnectRequest) (Model, error) {
	cfg := req.Config
	if cfg.IsMarked() {
		cfg, _ = cfg.Unmark()
	}
	if !cfg.IsNull() {
		return ModelFromConfig(cfg)
	}
	m := DefaultModel()
	if name := stateAttr(req.State.Attrs, "model"); name != "" {
		m.ServedModel = name
	}
	return m, nil
}

func attrs(inst *instance) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"model":    cty.StringVal(inst.srv.Model().ServedModel),
		"endpoint": cty.StringVal(inst.baseURL),
	})
}

func checkKind(k providers.Kind) error {
	if k != providers.KindServer {
		return fmt.Errorf("simulated: manages servers, not %q", k)
	}
	return nil
}

func newID() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("simulated: id: %w", err)
	}
	return "sim-" + hex.EncodeToString(b[:]), nil
}

// stateAttrValue returns a top-level attribute of stored attributes, or a
// null when there is none.
func stateAttrValue(v cty.Value, name string) cty.Value {
	if v.IsMarked() || v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return v.GetAttr(name)
}

// stateAttr returns a known string attribute of stored attributes, or "".
func stateAttr(v cty.Value, name string) string {
	a := stateAttrValue(v, name)
	if a.IsNull() || !a.IsKnown() || a.Type() != cty.String {
		return ""
	}
	return a.AsString()
}

// ModelFromConfig decodes a server block's configuration into a Model.
// Every attribute may be null or absent; attributes the simulator has no use
// for (engine, endpoint, args, ...) are ignored. It reads model, api_key
// and the simulate object (ttft, itl, jitter, max_num_seqs, itl_per_seq,
// prefill_per_token, seed, default_max_tokens, max_model_len, engine,
// schedule, reasoning_tokens), starting
// from DefaultModel. Errors name the attribute
// (`simulate.ttft: invalid duration "5 0ms"`) and never quote api_key.
func ModelFromConfig(cfg cty.Value) (Model, error) {
	m, _, err := decodeConfig(cfg, false)
	return m, err
}

// decodeConfig is ModelFromConfig that, with allowUnknown, skips values not
// known yet (checking the rest) and reports whether the model name is known.
func decodeConfig(cfg cty.Value, allowUnknown bool) (m Model, modelKnown bool, err error) {
	m = DefaultModel()
	if cfg.IsMarked() {
		cfg, _ = cfg.Unmark()
	}
	if cfg.IsNull() {
		return m, true, nil
	}
	if !cfg.IsKnown() {
		if allowUnknown {
			return m, false, nil
		}
		return m, false, errors.New("simulated: configuration is not known yet")
	}
	cfg, _ = cfg.UnmarkDeep()
	if !isObject(cfg) {
		return m, false, fmt.Errorf("simulated: configuration must be an object, got %s", cfg.Type().FriendlyName())
	}

	d := decoder{allowUnknown: allowUnknown}
	modelKnown = true
	if v, ok := d.get(cfg, "", "model"); ok {
		if s, ok := d.str("model", v); ok && s != "" {
			m.ServedModel = s
		}
	} else if d.unknown {
		modelKnown = false
	}
	if v, ok := d.get(cfg, "", "api_key"); ok {
		if s, ok := d.str("api_key", v); ok {
			m.APIKey = s
		}
	}
	sim, ok := d.get(cfg, "", "simulate")
	if ok && !isObject(sim) {
		d.failAt("simulate", "must be an object, got %s", sim.Type().FriendlyName())
		ok = false
	}
	if ok {
		d.duration(sim, "ttft", &m.TTFT)
		d.duration(sim, "itl", &m.ITL)
		d.duration(sim, "itl_per_seq", &m.ITLPerSeq)
		d.duration(sim, "prefill_per_token", &m.PrefillPerToken)
		if f, ok := d.number(sim, "jitter"); ok {
			if j, _ := f.Float64(); j < 0 || j > 1 {
				d.failAt("simulate.jitter", "must be between 0 and 1, got %s", f.Text('g', -1))
			} else {
				m.Jitter = j
			}
		}
		if v, ok := d.get(sim, "simulate.", "engine"); ok {
			if s, ok := d.str("simulate.engine", v); ok {
				m.Metrics = s
				if field, problem := m.check(); field == "engine" {
					d.failAt("simulate.engine", "%s", problem)
				}
			}
		}
		if v, ok := d.get(sim, "simulate.", "schedule"); ok {
			if s, ok := d.str("simulate.schedule", v); ok {
				m.Schedule = s
				if field, problem := m.check(); field == "schedule" {
					d.failAt("simulate.schedule", "%s", problem)
				}
			}
		}
		d.count(sim, "max_num_seqs", &m.MaxNumSeqs)
		d.count(sim, "default_max_tokens", &m.DefaultMaxTokens)
		d.count(sim, "max_model_len", &m.MaxModelLen)
		if f, ok := d.number(sim, "seed"); ok {
			if i, acc := f.Int64(); acc != big.Exact || !f.IsInt() {
				d.failAt("simulate.seed", "must be a whole number within 64 bits, got %s", f.Text('g', -1))
			} else {
				m.Seed = i
			}
		}
		if f, ok := d.number(sim, "reasoning_tokens"); ok {
			if i, acc := f.Int64(); acc != big.Exact || !f.IsInt() || i < 0 || i > math.MaxInt32 {
				d.failAt("simulate.reasoning_tokens", "must be a whole number of at least 0, got %s", f.Text('g', -1))
			} else {
				m.ReasoningTokens = int(i)
				if field, problem := m.check(); field == "reasoning_tokens" {
					d.failAt("simulate.reasoning_tokens", "%s", problem)
				}
			}
		}
	}
	return m, modelKnown, d.err
}

func isObject(v cty.Value) bool {
	t := v.Type()
	return t.IsObjectType() || t.IsMapType()
}

// decoder reads attributes, keeping the first error; once it has failed,
// further reads do nothing.
type decoder struct {
	allowUnknown bool
	err          error
	unknown      bool // the last get found an unknown value
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

// failAt keeps an error about the attribute at path ("simulate.ttft"),
// which the executor reports where the file sets it.
func (d *decoder) failAt(path, format string, args ...any) {
	if d.err == nil {
		d.err = providers.AttrErrorf(path, format, args...)
	}
}

// get returns the attribute name of obj when it is set and known. path
// prefixes the name in errors.
func (d *decoder) get(obj cty.Value, path, name string) (cty.Value, bool) {
	d.unknown = false
	if d.err != nil {
		return cty.NilVal, false
	}
	var v cty.Value
	t := obj.Type()
	switch {
	case t.IsObjectType():
		if !t.HasAttribute(name) {
			return cty.NilVal, false
		}
		v = obj.GetAttr(name)
	case t.IsMapType():
		key := cty.StringVal(name)
		if !obj.HasIndex(key).True() {
			return cty.NilVal, false
		}
		v = obj.Index(key)
	default:
		return cty.NilVal, false
	}
	if v.IsNull() {
		return cty.NilVal, false
	}
	if !v.IsKnown() {
		d.unknown = true
		if !d.allowUnknown {
			d.failAt(path+name, "value is not known yet")
		}
		return cty.NilVal, false
	}
	return v, true
}

// str converts v to a string. Its error names the type, never the value,
// which may be a secret.
func (d *decoder) str(path string, v cty.Value) (string, bool) {
	s, err := convert.Convert(v, cty.String)
	if err != nil || !s.IsKnown() || s.IsNull() {
		d.failAt(path, "must be a string, got %s", v.Type().FriendlyName())
		return "", false
	}
	return s.AsString(), true
}

func (d *decoder) number(sim cty.Value, name string) (*big.Float, bool) {
	v, ok := d.get(sim, "simulate.", name)
	if !ok {
		return nil, false
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil || !n.IsKnown() || n.IsNull() {
		d.failAt("simulate."+name, "must be a number, got %s", v.Type().FriendlyName())
		return nil, false
	}
	return n.AsBigFloat(), true
}

func (d *decoder) duration(sim cty.Value, name string, dst *time.Duration) {
	v, ok := d.get(sim, "simulate.", name)
	if !ok {
		return
	}
	s, ok := d.str("simulate."+name, v)
	if !ok {
		return
	}
	dur, err := time.ParseDuration(s)
	switch {
	case err != nil:
		d.failAt("simulate."+name, "invalid duration %q", s)
	case dur < 0:
		d.failAt("simulate."+name, "must not be negative, got %s", dur)
	default:
		*dst = dur
	}
}

func (d *decoder) count(sim cty.Value, name string, dst *int) {
	f, ok := d.number(sim, name)
	if !ok {
		return
	}
	i, acc := f.Int64()
	if !f.IsInt() || acc != big.Exact || i < 1 || i > math.MaxInt32 {
		d.failAt("simulate."+name, "must be a whole number of at least 1, got %s", f.Text('g', -1))
		return
	}
	*dst = int(i)
}
