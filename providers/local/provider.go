package local

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/providers"
)

// PodID is the ID of the local pod: there is one machine, this one.
const PodID = "local"

// Defaults of the Settings whose zero value cannot be meant literally.
const (
	DefaultStateDir     = ".benchform"
	DefaultGrace        = 30 * time.Second
	DefaultPollInterval = time.Second
)

// Settings configures a Provider; the zero value of each field means its
// default.
type Settings struct {
	// StateDir holds a log file and a process record per server, named
	// after the object's unique name; it is created when the first server
	// starts. Main passes a .benchform directory beside the state file;
	// empty means DefaultStateDir in the working directory.
	StateDir string
	// Now gives the time recorded as started_at; nil means time.Now.
	// Waits and timeouts use the system clock whatever Now says.
	Now func() time.Time
	// Grace is how long a stop waits after SIGTERM before it sends
	// SIGKILL (default DefaultGrace): vLLM and SGLang free GPU memory and
	// shared-memory segments on SIGTERM.
	Grace time.Duration
	// PollInterval is the gap between two health checks while a server
	// starts (default DefaultPollInterval).
	PollInterval time.Duration
	// NvidiaSMI is the nvidia-smi executable QueryGPU runs; empty means
	// "nvidia-smi" looked up in PATH.
	NvidiaSMI string
}

// Provider manages the local pod and the servers started on it. It is safe
// for concurrent use. It keeps nothing in memory that a later Provider
// needs: a server started by one is read, updated and stopped by another
// from state and the state directory alone.
type Provider struct {
	s      Settings
	client *http.Client

	mu    sync.Mutex
	ports map[int]bool // picked for a server by this Provider
}

var (
	_ providers.Provider   = (*Provider)(nil)
	_ providers.GPUQuerier = (*Provider)(nil)
)

// New returns a Provider with s's defaults filled in.
func New(s Settings) *Provider {
	if s.StateDir == "" {
		s.StateDir = DefaultStateDir
	}
	// Stored paths must not depend on the directory a later run starts in.
	if abs, err := filepath.Abs(s.StateDir); err == nil {
		s.StateDir = abs
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Grace <= 0 {
		s.Grace = DefaultGrace
	}
	if s.PollInterval <= 0 {
		s.PollInterval = DefaultPollInterval
	}
	if s.NvidiaSMI == "" {
		s.NvidiaSMI = "nvidia-smi"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Servers listen on loopback; a proxy from the environment must not
	// come between.
	tr.Proxy = nil
	return &Provider{
		s:      s,
		client: &http.Client{Transport: tr, Timeout: checkTimeout},
		ports:  map[int]bool{},
	}
}

// Plan checks a configuration. Nothing forces replacement: the machine
// stays, and a server is restarted in place by Update whatever changed.
// For a server, Planned holds the attributes Create returns; those that
// depend on the started process (pid, start time) or on a port still to be
// picked are unknown.
func (p *Provider) Plan(ctx context.Context, req providers.PlanRequest) (providers.PlanResponse, error) {
	switch req.Kind {
	case providers.KindPod:
		return providers.PlanResponse{Planned: cty.EmptyObjectVal}, nil
	case providers.KindServer:
	default:
		return providers.PlanResponse{}, kindError(req.Kind)
	}
	c, unknown, err := decodeServerPartial(req.Config)
	if err != nil {
		return providers.PlanResponse{}, err
	}
	planned := unknownAttrs()
	if !unknown["model"] && !unknown["served_model_name"] {
		planned["model"] = cty.StringVal(c.servedModel())
	}
	if c.port != 0 {
		planned["port"] = cty.NumberIntVal(int64(c.port))
		planned["endpoint"] = cty.StringVal(endpointURL(c.port))
		if len(unknown) == 0 {
			argv, _ := command(c, c.port)
			planned["command"] = stringList(redactArgv(argv, c.apiKey))
		}
	}
	return providers.PlanResponse{Planned: cty.ObjectVal(planned)}, nil
}

// Create makes the pod (this machine: nothing to do) or starts a server
// and waits until it answers /health and lists its model. A server that
// fails to start, exits or is not ready within ready_timeout is stopped
// before Create returns the error, with the last lines of its log.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) (providers.State, error) {
	switch req.Kind {
	case providers.KindPod:
		return providers.State{ID: PodID, Name: req.Name, Attrs: cty.EmptyObjectVal}, nil
	case providers.KindServer:
	default:
		return providers.State{}, kindError(req.Kind)
	}
	c, err := decodeServer(req.Config)
	if err != nil {
		return providers.State{}, err
	}
	name := fileName(req.Name, req.Addr)
	// A create repeated under one name leaves one server, not two.
	if err := p.stopAll(ctx, providers.State{Name: req.Name}, name); err != nil {
		return providers.State{}, err
	}
	port := c.port
	if port == 0 {
		if port, err = p.freePort(); err != nil {
			return providers.State{}, err
		}
	}
	rec, err := p.start(ctx, name, c, port, req.Progress)
	if err != nil {
		return providers.State{}, err
	}
	return providers.State{ID: strconv.Itoa(rec.PID), Name: req.Name, Attrs: rec.attrs()}, nil
}

// Read refreshes a stored object. The pod always exists. A server exists
// while its process runs: the same pid with the same start time. The
// record in the state directory wins over Prior, as it is rewritten by
// every start: it finds a server whose create or update was interrupted
// before state learned its pid.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) (providers.ReadResponse, error) {
	switch req.Kind {
	case providers.KindPod:
		st := req.Prior
		if st.ID != PodID {
			st.ID = PodID
			if st.Attrs == cty.NilVal || st.Attrs.IsNull() {
				st.Attrs = cty.EmptyObjectVal
			}
		}
		return providers.ReadResponse{State: st, Exists: true}, nil
	case providers.KindServer:
	default:
		return providers.ReadResponse{}, kindError(req.Kind)
	}
	name := fileName(req.Prior.Name, req.Addr)
	rec, err := p.loadRecord(name)
	if err != nil {
		return providers.ReadResponse{}, err
	}
	priorPID := parsePID(req.Prior.ID)
	if rec != nil && p.owns(rec.PID, rec.StartTime, name).alive() {
		if rec.PID == priorPID {
			return providers.ReadResponse{State: req.Prior, Exists: true}, nil
		}
		st := providers.State{ID: strconv.Itoa(rec.PID), Name: req.Prior.Name, Attrs: merge(req.Prior.Attrs, rec.attrs())}
		if st.Name == "" {
			st.Name = name
		}
		return providers.ReadResponse{State: st, Exists: true}, nil
	}
	logFile := p.logPath(name)
	if s := attrString(req.Prior.Attrs, "log_file"); s != "" {
		logFile = s
	}
	if priorPID == 0 {
		if rec != nil {
			return providers.ReadResponse{State: req.Prior, Drift: exitedDrift(rec.LogFile)}, nil
		}
		return providers.ReadResponse{State: req.Prior}, nil
	}
	start := p.startTime(req.Prior, rec)
	info := p.owns(priorPID, start, name)
	switch {
	case info.alive():
		return providers.ReadResponse{State: req.Prior, Exists: true}, nil
	case info.reused:
		return providers.ReadResponse{State: req.Prior, Drift: fmt.Sprintf("the process exited; pid %d now belongs to another process (see %s)", priorPID, logFile)}, nil
	default:
		return providers.ReadResponse{State: req.Prior, Drift: exitedDrift(logFile)}, nil
	}
}

func exitedDrift(logFile string) string {
	return fmt.Sprintf("the process exited (see %s)", logFile)
}

// Update restarts a server with its new configuration: it stops the
// running process, then starts one as Create does, under the same name
// and, when the configuration sets no port, on the same port if it is
// still free. Updating the pod changes nothing.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) (providers.State, error) {
	switch req.Kind {
	case providers.KindPod:
		return providers.State{ID: PodID, Name: req.Prior.Name, Attrs: cty.EmptyObjectVal}, nil
	case providers.KindServer:
	default:
		return providers.State{}, kindError(req.Kind)
	}
	c, err := decodeServer(req.Config)
	if err != nil {
		return providers.State{}, err
	}
	name := fileName(req.Prior.Name, req.Addr)
	if err := p.stopAll(ctx, req.Prior, name); err != nil {
		return providers.State{}, err
	}
	port := c.port
	if prior := attrInt(req.Prior.Attrs, "port"); port == 0 && prior > 0 && portFree(prior) {
		port = prior
	}
	if port == 0 {
		if port, err = p.freePort(); err != nil {
			return providers.State{}, err
		}
	}
	rec, err := p.start(ctx, name, c, port, req.Progress)
	if err != nil {
		return providers.State{}, err
	}
	st := providers.State{ID: strconv.Itoa(rec.PID), Name: req.Prior.Name, Attrs: rec.attrs()}
	if st.Name == "" {
		st.Name = name
	}
	return st, nil
}

// Delete stops a server: SIGTERM to its process group and session, then,
// if anything of it still runs after the grace period, SIGKILL. A server
// already gone, or a pid now used by another process, is success. The log
// file stays for the user to read.
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) error {
	switch req.Kind {
	case providers.KindPod:
		return nil
	case providers.KindServer:
	default:
		return kindError(req.Kind)
	}
	name := fileName(req.Prior.Name, req.Addr)
	if err := p.stopAll(ctx, req.Prior, name); err != nil {
		return err
	}
	return p.removeRecord(name)
}

// Connect returns a server's endpoint once its process runs and it
// answers: a server adopted after an interrupted create may still be
// loading, so Connect waits for it as Create does, for at most its
// ready_timeout.
func (p *Provider) Connect(ctx context.Context, req providers.ConnectRequest) (providers.Endpoint, error) {
	if strings.HasPrefix(req.Addr, string(providers.KindPod)+".") {
		return providers.Endpoint{}, fmt.Errorf("local: a pod has no endpoint: %w", providers.ErrNotSupported)
	}
	c := serverConfig{readyTimeout: DefaultReadyTimeout}
	if req.Config != cty.NilVal && !req.Config.IsNull() {
		var err error
		if c, err = decodeServer(req.Config); err != nil {
			return providers.Endpoint{}, err
		}
	}
	name := fileName(req.State.Name, req.Addr)
	rec, err := p.loadRecord(name)
	if err != nil {
		return providers.Endpoint{}, err
	}
	pid, start := parsePID(req.State.ID), p.startTime(req.State, rec)
	endpoint, model := attrString(req.State.Attrs, "endpoint"), attrString(req.State.Attrs, "model")
	if rec != nil && rec.PID != pid && p.owns(rec.PID, rec.StartTime, name).alive() {
		// State is behind the record after an interrupted update.
		pid, start, endpoint, model = rec.PID, rec.StartTime, rec.Endpoint, rec.Model
	}
	if model == "" && c.engine != nil {
		model = c.servedModel()
	}
	logFile := p.logPath(name)
	if s := attrString(req.State.Attrs, "log_file"); s != "" {
		logFile = s
	}
	if pid == 0 || endpoint == "" {
		return providers.Endpoint{}, fmt.Errorf("local: the state of the server records no process; apply creates it")
	}
	if !p.owns(pid, start, name).alive() {
		return providers.Endpoint{}, fmt.Errorf("local: the server's process %d exited (see %s); apply starts it again", pid, logFile)
	}
	exited := func() (bool, string) {
		if p.owns(pid, start, name).alive() {
			return false, ""
		}
		return true, "it exited"
	}
	err = p.waitReady(ctx, readiness{
		engine: c.engine, pid: pid, endpoint: endpoint, key: c.apiKey, model: model,
		timeout: c.readyTimeout, exited: exited,
	})
	if err != nil {
		return providers.Endpoint{}, fmt.Errorf("%w (see %s)", err, logFile)
	}
	return providers.Endpoint{BaseURL: endpoint, APIKey: c.apiKey, Model: model}, nil
}

// startTime is the recorded start time of the process in st: from its
// attributes, else from the record when that names the same pid.
func (p *Provider) startTime(st providers.State, rec *record) string {
	if s := attrString(st.Attrs, "start_time"); s != "" {
		return s
	}
	if rec != nil && rec.PID == parsePID(st.ID) {
		return rec.StartTime
	}
	return ""
}

// owns inspects pid and reports it as not existing unless it is the
// server's process: the one that started at start or, when the start time
// is not known, the one whose environment carries the server's name.
func (p *Provider) owns(pid int, start, name string) procInfo {
	info := inspect(pid)
	if !info.exists {
		return info
	}
	switch {
	case info.start == "":
		// Where start times cannot be read, a pid that exists is taken
		// for the server.
	case start != "":
		info.reused = info.start != start
	case !info.zombie:
		// No start time was stored: the environment tells.
		info.reused = !hasMarker(pid, name)
	}
	return info
}

func kindError(k providers.Kind) error {
	return fmt.Errorf("local: manages pods and servers, not %q", k)
}

// fileName is the base name of a server's files: its unique name, or for
// a state that has none, one made from its address. Anything but letters,
// digits, '.', '_' and '-' becomes '-', so a name cannot leave the
// directory.
func fileName(name, addr string) string {
	if name == "" {
		name = "benchform-" + addr
	}
	b := []byte(name)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
		if !ok {
			b[i] = '-'
		}
	}
	s := strings.TrimLeft(string(b), ".")
	if s == "" {
		s = "server"
	}
	return s
}

func (p *Provider) logPath(name string) string {
	return filepath.Join(p.s.StateDir, name+".log")
}

func (p *Provider) recordPath(name string) string {
	return filepath.Join(p.s.StateDir, name+".json")
}

func endpointURL(port int) string {
	return "http://" + net.JoinHostPort(loopback, strconv.Itoa(port))
}

// freePort picks a loopback port nothing listens on. The port is free only
// until someone else takes it; the ports this Provider handed out are
// skipped, so that servers started at once do not get the same one.
func (p *Provider) freePort() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range 50 {
		ln, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			return 0, fmt.Errorf("local: pick a port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if !p.ports[port] {
			p.ports[port] = true
			return port, nil
		}
	}
	return 0, errors.New("local: pick a port: no free port found")
}

// portFree reports whether a loopback port can be listened on now.
func portFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

func parsePID(id string) int {
	n, err := strconv.Atoi(id)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// attrValue returns a top-level attribute of stored attributes, or a null
// when there is none.
func attrValue(v cty.Value, name string) cty.Value {
	if v == cty.NilVal || v.IsMarked() || v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return v.GetAttr(name)
}

// attrString returns a known string attribute, or "".
func attrString(v cty.Value, name string) string {
	a := attrValue(v, name)
	if a.IsNull() || !a.IsKnown() || a.Type() != cty.String {
		return ""
	}
	return a.AsString()
}

// attrInt returns a known whole-number attribute, or 0.
func attrInt(v cty.Value, name string) int {
	a := attrValue(v, name)
	if a.IsNull() || !a.IsKnown() || a.Type() != cty.Number {
		return 0
	}
	i, acc := a.AsBigFloat().Int64()
	if acc != big.Exact || i < 0 || i > 1<<31 {
		return 0
	}
	return int(i)
}

// merge returns base's attributes with over's on top.
func merge(base, over cty.Value) cty.Value {
	m := map[string]cty.Value{}
	if base != cty.NilVal && !base.IsNull() && base.IsKnown() && base.Type().IsObjectType() {
		for k, v := range base.AsValueMap() {
			m[k] = v
		}
	}
	for k, v := range over.AsValueMap() {
		m[k] = v
	}
	return cty.ObjectVal(m)
}

func stringList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vs := make([]cty.Value, len(ss))
	for i, s := range ss {
		vs[i] = cty.StringVal(s)
	}
	return cty.ListVal(vs)
}

// unknownAttrs is a server's attributes before it is created.
func unknownAttrs() map[string]cty.Value {
	m := map[string]cty.Value{}
	for name, t := range attrTypes {
		m[name] = cty.UnknownVal(t)
	}
	return m
}

// attrTypes are the attributes a server's State carries.
var attrTypes = map[string]cty.Type{
	"pid":        cty.Number,
	"command":    cty.List(cty.String),
	"log_file":   cty.String,
	"endpoint":   cty.String,
	"model":      cty.String,
	"port":       cty.Number,
	"started_at": cty.String,
	"start_time": cty.String,
}
