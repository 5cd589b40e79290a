package executor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
)

// Manifest is what a run measured with: enough to run it again, and to
// tell whether two runs measured the same experiment. It is written when
// the run begins; what only the run learns (the servers' own versions,
// their GPUs as nvidia-smi saw them) is read from its steps when it is
// loaded.
type Manifest struct {
	Benchform BuildInfo        `json:"benchform"`
	Client    ClientInfo       `json:"client"`
	Servers   []ServerManifest `json:"servers"`
	Dataset   DatasetManifest  `json:"dataset"`
	Load      LoadManifest     `json:"load"`
}

// BuildInfo identifies the benchform that ran.
type BuildInfo struct {
	Version string `json:"version"`
	// Commit is the revision it was built from, with "+modified" when
	// the tree had uncommitted changes; empty when the build did not
	// record it.
	Commit string `json:"commit,omitempty"`
	Go     string `json:"go"`
}

// ClientInfo is the machine that sent the load: its speed bounds what a
// client can measure.
type ClientInfo struct {
	Host string `json:"host,omitempty"`
	OS   string `json:"os"`
	CPUs int    `json:"cpus"`
}

// ServerManifest is one server as the run found it.
type ServerManifest struct {
	Server   string `json:"server"`
	Provider string `json:"provider,omitempty"`
	Engine   string `json:"engine"`
	Image    string `json:"image,omitempty"`
	Args     string `json:"args,omitempty"`
	Model    string `json:"model,omitempty"`
	Version  string `json:"version,omitempty"`
	// PricePerHour is what the server's machine costs, in USD per hour,
	// where its configuration or its pod's provider says.
	PricePerHour *float64 `json:"price_per_hour,omitempty"`
	Pod          *PodInfo `json:"pod,omitempty"`
	// GPUs are what the server's GPU telemetry read, in device order.
	GPUs []GPUInfo `json:"gpus,omitempty"`
}

// PodInfo is where a server ran.
type PodInfo struct {
	Pod        string `json:"pod"`
	Provider   string `json:"provider"`
	GPUType    string `json:"gpu_type,omitempty"`
	GPUCount   int    `json:"gpu_count,omitempty"`
	Cloud      string `json:"cloud,omitempty"`
	DataCenter string `json:"data_center,omitempty"`
}

// GPUInfo is one GPU as nvidia-smi (or DCGM) described it.
type GPUInfo struct {
	Name          string   `json:"name,omitempty"`
	Driver        string   `json:"driver_version,omitempty"`
	PowerLimitW   *float64 `json:"power_limit_w,omitempty"`
	MaxSMClockMHz *float64 `json:"max_sm_clock_mhz,omitempty"`
}

// DatasetManifest is the prompts' source. SHA256 is the file's for file
// datasets and the inline prompts' for a prompts list, so that an edited
// file tells.
type DatasetManifest struct {
	Kind         string `json:"kind"`
	Path         string `json:"path,omitempty"`
	SHA256       string `json:"sha256,omitempty"`
	Seed         int64  `json:"seed"`
	InputTokens  string `json:"input_tokens,omitempty"`
	OutputTokens string `json:"output_tokens,omitempty"`
	PrefixTokens int    `json:"prefix_tokens,omitempty"`
	PrefixGroups int    `json:"prefix_groups,omitempty"`
}

// LoadManifest is the load and the requests that carried it.
type LoadManifest struct {
	API            string    `json:"api"`
	MaxTokens      int       `json:"max_tokens"`
	IgnoreEOS      bool      `json:"ignore_eos,omitempty"`
	ExtraBody      string    `json:"extra_body,omitempty"`
	Concurrency    []int     `json:"concurrency,omitempty"`
	Rates          []float64 `json:"rate,omitempty"`
	Arrival        string    `json:"arrival,omitempty"`
	Burstiness     float64   `json:"burstiness,omitempty"`
	MaxConcurrency int       `json:"max_concurrency,omitempty"`
	Requests       int       `json:"requests,omitempty"`
	Duration       string    `json:"duration,omitempty"`
	Warmup         int       `json:"warmup,omitempty"`
	Seed           int64     `json:"seed,omitempty"`
	Repeat         int       `json:"repeat,omitempty"`
	Search         string    `json:"search,omitempty"`
}

// manifest records what a scenario's run is about to measure with.
func (a *applier) manifest(c *Change, spec lang.ScenarioSpec) Manifest {
	m := Manifest{
		Benchform: buildInfo(a.opts.Version),
		Client:    clientInfo(),
		Dataset:   datasetManifest(spec.Dataset, a.opts.Config.Dir),
		Load:      loadManifest(spec),
	}
	for _, server := range c.Servers {
		m.Servers = append(m.Servers, a.serverManifest(server))
	}
	return m
}

func buildInfo(version string) BuildInfo {
	b := BuildInfo{Version: version, Go: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if b.Version == "" || b.Version == "dev" {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			b.Version = v
		}
	}
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if b.Commit != "" && modified {
		b.Commit += "+modified"
	}
	return b
}

func clientInfo() ClientInfo {
	host, _ := os.Hostname()
	return ClientInfo{Host: host, OS: runtime.GOOS + "/" + runtime.GOARCH, CPUs: runtime.NumCPU()}
}

// serverManifest reads a server's settings from its value and its pod's:
// a pod that runs the server's container carries its image and command.
func (a *applier) serverManifest(server lang.Addr) ServerManifest {
	m := ServerManifest{Server: server.String(), Engine: a.engine(server).Name}
	s := a.opts.Config.Servers[server]
	if s != nil {
		m.Provider = a.opts.Config.ServerProvider(s)
	}
	v, _ := a.scope.Get(server)
	m.Model = firstString(attrOf(v, "served_model_name"), attrOf(v, "model"))
	m.Image = firstString(attrOf(v, "image"))
	m.Args = argsString(attrOf(v, "args"))
	if sim := simulateArgs(attrOf(v, "simulate")); sim != "" {
		m.Args = sim
	}
	m.PricePerHour = firstNumber(attrOf(v, providers.AttrPricePerHour))
	if s == nil || s.Pod == nil {
		return m
	}
	pv, ok := a.scope.Get(*s.Pod)
	if !ok {
		return m
	}
	facts := a.serverFacts(server)
	pod := &PodInfo{Pod: s.Pod.String(), GPUType: facts.GPU, GPUCount: facts.GPUCount,
		Cloud:      firstString(attrOf(pv, "cloud_selected"), attrOf(pv, "cloud_type")),
		DataCenter: firstString(attrOf(pv, "data_center_id"))}
	if p := a.opts.Config.Pods[*s.Pod]; p != nil {
		pod.Provider = p.Provider
	}
	m.Pod = pod
	if m.Image == "" {
		m.Image = firstString(attrOf(pv, "image"))
	}
	if m.Args == "" {
		m.Args = firstString(attrOf(pv, "args"))
	}
	if m.PricePerHour == nil {
		m.PricePerHour = firstNumber(attrOf(pv, providers.AttrPricePerHour), attrOf(pv, providers.AttrCostPerHour))
	}
	return m
}

// simulateArgs renders a simulated server's settings as the simulate
// command's flags: they are its engine's arguments.
func simulateArgs(v cty.Value) string {
	if !v.IsWhollyKnown() || v.IsNull() || !v.Type().IsObjectType() {
		return ""
	}
	v, _ = v.UnmarkDeep()
	var names []string
	for name := range v.Type().AttributeTypes() {
		names = append(names, name)
	}
	slices.Sort(names)
	var words []string
	for _, name := range names {
		a := v.GetAttr(name)
		switch {
		case a.IsNull():
		case a.Type() == cty.String:
			words = append(words, "-"+strings.ReplaceAll(name, "_", "-")+" "+a.AsString())
		case a.Type() == cty.Number:
			words = append(words, "-"+strings.ReplaceAll(name, "_", "-")+" "+a.AsBigFloat().Text('g', -1))
		}
	}
	return strings.Join(words, " ")
}

// firstNumber is the first known number among vs.
func firstNumber(vs ...cty.Value) *float64 {
	for _, v := range vs {
		v, _ = v.Unmark()
		if v.IsKnown() && !v.IsNull() && v.Type() == cty.Number {
			f, _ := v.AsBigFloat().Float64()
			return &f
		}
	}
	return nil
}

// firstString is the first known, non-empty string among vs.
func firstString(vs ...cty.Value) string {
	for _, v := range vs {
		if v.IsKnown() && !v.IsNull() && v.Type() == cty.String && v.AsString() != "" {
			s, _ := v.Unmark()
			return s.AsString()
		}
	}
	return ""
}

// argsString joins a list of arguments as a command line would show them;
// a sensitive argument shows as its mark, never its value.
func argsString(v cty.Value) string {
	if !v.IsKnown() || v.IsNull() || !v.CanIterateElements() {
		return firstString(v)
	}
	var words []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsMarked() {
			words = append(words, "(sensitive)")
			continue
		}
		if e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
			words = append(words, e.AsString())
		}
	}
	return strings.Join(words, " ")
}

func datasetManifest(d lang.DatasetSpec, dir string) DatasetManifest {
	m := DatasetManifest{Kind: d.Kind, Path: d.Path, Seed: d.Seed,
		InputTokens: lengthString(d.Input), OutputTokens: lengthString(d.Output),
		PrefixTokens: d.PrefixTokens, PrefixGroups: d.PrefixGroups}
	switch {
	case d.Path != "":
		path := d.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		m.SHA256 = fileSHA256(path)
	case len(d.Prompts) > 0:
		h := sha256.New()
		for _, p := range d.Prompts {
			// A length before each prompt keeps ["ab"] and ["a", "b"]
			// apart.
			fmt.Fprintf(h, "%d:%s", len(p), p)
		}
		m.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	return m
}

// fileSHA256 is a file's SHA-256, or empty when it cannot be read (the
// run then fails on it anyway).
func fileSHA256(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func lengthString(l lang.LengthSpec) string {
	switch {
	case l.IsZero():
		return ""
	case l.Fixed != 0:
		return strconv.Itoa(l.Fixed)
	case l.Max != 0:
		return fmt.Sprintf("%d to %d", l.Min, l.Max)
	default:
		return fmt.Sprintf("mean %g, stddev %g", l.Mean, l.StdDev)
	}
}

// InputLength and OutputLength read the dataset's prompt and answer
// lengths back from their manifest text; zero where it sets none.
func (d DatasetManifest) InputLength() lang.LengthSpec  { return parseLength(d.InputTokens) }
func (d DatasetManifest) OutputLength() lang.LengthSpec { return parseLength(d.OutputTokens) }

// parseLength is lengthString's inverse: manifests stored by earlier runs
// hold only the text.
func parseLength(s string) lang.LengthSpec {
	var l lang.LengthSpec
	switch {
	case s == "":
	case strings.Contains(s, " to "):
		if _, err := fmt.Sscanf(s, "%d to %d", &l.Min, &l.Max); err != nil {
			return lang.LengthSpec{}
		}
	case strings.HasPrefix(s, "mean "):
		if _, err := fmt.Sscanf(s, "mean %g, stddev %g", &l.Mean, &l.StdDev); err != nil {
			return lang.LengthSpec{}
		}
	default:
		n, err := strconv.Atoi(s)
		if err != nil {
			return lang.LengthSpec{}
		}
		l.Fixed = n
	}
	return l
}

func loadManifest(spec lang.ScenarioSpec) LoadManifest {
	l := spec.Load
	m := LoadManifest{API: spec.API, MaxTokens: spec.MaxTokens, IgnoreEOS: spec.IgnoreEOS, ExtraBody: string(spec.ExtraBody),
		Concurrency: l.Concurrency, Rates: l.Rates, Arrival: l.Arrival, Burstiness: l.Burstiness,
		MaxConcurrency: l.MaxConcurrency, Requests: l.Requests, Warmup: l.Warmup, Seed: l.Seed, Repeat: l.Repeat}
	if l.Duration != 0 {
		m.Duration = l.Duration.String()
	}
	if s := l.Search; s != nil {
		m.Search = fmt.Sprintf("%s from %g to %g, attainment %g, tolerance %g", s.Over, s.From, s.Max, s.Attainment, s.Tolerance)
	}
	return m
}

// completeManifest adds what the run's steps learnt: each server's
// version as it stated it, and its GPUs as telemetry read them.
func completeManifest(m *Manifest, steps []StepSummary) {
	for i := range m.Servers {
		s := &m.Servers[i]
		for _, st := range steps {
			if st.Server != s.Server {
				continue
			}
			if s.Version == "" {
				s.Version = st.ServerVersion
			}
			if len(s.GPUs) == 0 && st.GPU != nil {
				for _, d := range st.GPU.GPUs {
					s.GPUs = append(s.GPUs, GPUInfo{Name: d.Name, Driver: d.Driver, PowerLimitW: d.PowerLimitW, MaxSMClockMHz: d.MaxSMClockMHz})
				}
			}
		}
	}
}

// ManifestField is one line of a manifest: a dotted key and its value.
// Defining fields are those whose difference makes two runs different
// experiments: the models, the dataset and the load.
type ManifestField struct {
	Key, Value string
	Defining   bool
}

// Fields lists the manifest one field a line, empty values left out.
func (m Manifest) Fields() []ManifestField {
	var out []ManifestField
	add := func(key, value string, defining bool) {
		if value != "" {
			out = append(out, ManifestField{key, value, defining})
		}
	}
	add("benchform.version", m.Benchform.Version, false)
	add("benchform.commit", m.Benchform.Commit, false)
	add("benchform.go", m.Benchform.Go, false)
	add("client.host", m.Client.Host, false)
	add("client.os", m.Client.OS, false)
	if m.Client.CPUs > 0 {
		add("client.cpus", strconv.Itoa(m.Client.CPUs), false)
	}
	var models []string
	for _, s := range m.Servers {
		if s.Model != "" && !slices.Contains(models, s.Model) {
			models = append(models, s.Model)
		}
	}
	slices.Sort(models)
	add("models", strings.Join(models, ", "), true)
	for _, s := range m.Servers {
		k := s.Server + "."
		add(k+"engine", s.Engine, false)
		add(k+"provider", s.Provider, false)
		add(k+"version", s.Version, false)
		add(k+"image", s.Image, false)
		add(k+"args", s.Args, false)
		add(k+"model", s.Model, false)
		if p := s.Pod; p != nil {
			add(k+"pod", p.Pod+" ("+p.Provider+")", false)
			add(k+"gpu_type", p.GPUType, false)
			if p.GPUCount > 0 {
				add(k+"gpu_count", strconv.Itoa(p.GPUCount), false)
			}
			add(k+"cloud", p.Cloud, false)
			add(k+"data_center", p.DataCenter, false)
		}
		for i, g := range s.GPUs {
			add(fmt.Sprintf("%sgpu[%d]", k, i), g.String(), false)
		}
	}
	d := m.Dataset
	add("dataset.kind", d.Kind, true)
	add("dataset.path", d.Path, false)
	add("dataset.sha256", d.SHA256, true)
	add("dataset.seed", strconv.FormatInt(d.Seed, 10), true)
	add("dataset.input_tokens", d.InputTokens, true)
	add("dataset.output_tokens", d.OutputTokens, true)
	if d.PrefixTokens > 0 {
		add("dataset.prefix", fmt.Sprintf("%d tokens in %d groups", d.PrefixTokens, max(d.PrefixGroups, 1)), true)
	}
	l := m.Load
	add("load.api", l.API, true)
	add("load.max_tokens", strconv.Itoa(l.MaxTokens), true)
	if l.IgnoreEOS {
		add("load.ignore_eos", "true", true)
	}
	add("load.extra_body", l.ExtraBody, true)
	if len(l.Concurrency) > 0 {
		add("load.concurrency", fmt.Sprint(l.Concurrency), true)
	}
	if len(l.Rates) > 0 {
		add("load.rate", fmt.Sprint(l.Rates), true)
		add("load.arrival", l.Arrival, true)
		if l.Burstiness != 0 {
			add("load.burstiness", strconv.FormatFloat(l.Burstiness, 'g', -1, 64), true)
		}
	}
	if l.MaxConcurrency > 0 {
		add("load.max_concurrency", strconv.Itoa(l.MaxConcurrency), true)
	}
	if l.Requests > 0 {
		add("load.requests", strconv.Itoa(l.Requests), true)
	}
	add("load.duration", l.Duration, true)
	if l.Warmup > 0 {
		add("load.warmup", strconv.Itoa(l.Warmup), true)
	}
	if l.Seed != 0 {
		add("load.seed", strconv.FormatInt(l.Seed, 10), true)
	}
	if l.Repeat > 1 {
		// Repeats change how well a figure is known, not what it is.
		add("load.repeat", strconv.Itoa(l.Repeat), false)
	}
	add("load.search", l.Search, true)
	return out
}

func (g GPUInfo) String() string {
	parts := []string{g.Name}
	if g.Driver != "" {
		parts = append(parts, "driver "+g.Driver)
	}
	if g.PowerLimitW != nil {
		parts = append(parts, fmt.Sprintf("power limit %g W", *g.PowerLimitW))
	}
	if g.MaxSMClockMHz != nil {
		parts = append(parts, fmt.Sprintf("max SM clock %g MHz", *g.MaxSMClockMHz))
	}
	return strings.Join(parts, ", ")
}

// ManifestDiff is a field two manifests disagree on; a value is empty
// where a manifest has no such field.
type ManifestDiff struct {
	Key      string
	A, B     string
	Defining bool
}

// DiffManifests lists the fields two manifests disagree on, in a's order
// then b's.
func DiffManifests(a, b Manifest) []ManifestDiff {
	fa, fb := a.Fields(), b.Fields()
	inB := map[string]ManifestField{}
	for _, f := range fb {
		inB[f.Key] = f
	}
	seen := map[string]bool{}
	var out []ManifestDiff
	for _, f := range fa {
		seen[f.Key] = true
		if g := inB[f.Key]; g.Value != f.Value {
			out = append(out, ManifestDiff{f.Key, f.Value, g.Value, f.Defining || g.Defining})
		}
	}
	for _, f := range fb {
		if !seen[f.Key] {
			out = append(out, ManifestDiff{f.Key, "", f.Value, f.Defining})
		}
	}
	return out
}
