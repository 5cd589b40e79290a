package runpod

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/benchform/benchform/engines"
	"github.com/benchform/benchform/providers"
)

// Defaults of pod and server arguments.
const (
	DefaultContainerDiskGB = 50
	DefaultReadyTimeout    = providers.DefaultReadyTimeout
	// volumeMountPath is where a volume is mounted; weights are cached
	// there (HF_HOME) so that they survive a restart.
	volumeMountPath = "/workspace"
)

// podConfig is what the provider reads of a pod block.
type podConfig struct {
	gpuTypes        []string
	gpuCount        int
	cloudType       string // "" means the provider's default
	containerDiskGB int
	volumeGB        int
	env             map[string]string
	ports           []string // nil: derived from the server
	dataCenterIDs   []string
	image           string
	pricePerHour    float64
	hasPrice        bool
	server          *serverConfig // nil when no server is placed on the pod
}

// serverConfig is what the provider reads of a server block.
type serverConfig struct {
	engine          *engines.Engine // nil until decoded
	model           string
	servedModelName string
	apiKey          string
	args            []string
	env             map[string]string
	image           string
	port            int
	readyTimeout    time.Duration
	pod             podRef // the pod a server block names; empty in a pod's Config
}

// podRef is what a server's Config tells of its pod.
type podRef struct {
	id       string
	env      map[string]string
	gpuCount int
}

// servedModel is the name requests carry and /v1/models lists.
func (s *serverConfig) servedModel() string {
	if s.engine == nil {
		return s.model
	}
	return s.engine.ServedModel(s.model, s.servedModelName)
}

// listenPort is the port the engine listens on inside the container.
func (s *serverConfig) listenPort() int {
	if s.port != 0 || s.engine == nil || s.engine.Launch == nil {
		return s.port
	}
	return s.engine.Launch.Port
}

func (s *serverConfig) engineName() string {
	if s.engine == nil {
		return ""
	}
	return s.engine.Name
}

// decoder reads attributes of a configuration. With allowUnknown (Plan),
// values not known yet are skipped and their paths remembered; otherwise
// they are an error. It keeps the first error.
type decoder struct {
	allowUnknown bool
	err          error
	unknown      map[string]bool
}

func newDecoder(allowUnknown bool) *decoder {
	return &decoder{allowUnknown: allowUnknown, unknown: map[string]bool{}}
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

// failAt keeps an error about the attribute at path (dotted: "gpu_type",
// "server.engine"), which the executor reports where the file sets it.
func (d *decoder) failAt(path, format string, args ...any) {
	if d.err == nil {
		d.err = providers.AttrErrorf(path, format, args...)
	}
}

// get returns the attribute name of obj when it is set and known.
func (d *decoder) get(obj cty.Value, path string) (cty.Value, bool) {
	name := path[strings.LastIndex(path, ".")+1:]
	if obj == cty.NilVal || obj.IsNull() {
		return cty.NilVal, false
	}
	if !obj.IsKnown() {
		d.markUnknown(path)
		return cty.NilVal, false
	}
	t := obj.Type()
	var v cty.Value
	switch {
	case t.IsObjectType():
		if !t.HasAttribute(name) {
			return cty.NilVal, false
		}
		v = obj.GetAttr(name)
	case t.IsMapType():
		if !obj.HasIndex(cty.StringVal(name)).True() {
			return cty.NilVal, false
		}
		v = obj.Index(cty.StringVal(name))
	default:
		return cty.NilVal, false
	}
	if v.IsNull() {
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		d.markUnknown(path)
		return cty.NilVal, false
	}
	return v, true
}

func (d *decoder) markUnknown(path string) {
	d.unknown[path] = true
	if !d.allowUnknown {
		d.failAt(path, "value is not known yet")
	}
}

// str reads a string. Its error names the type, never the value, which may
// be a secret.
func (d *decoder) str(obj cty.Value, path string) (string, bool) {
	v, ok := d.get(obj, path)
	if !ok {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		d.failAt(path, "must be a string, got %s", v.Type().FriendlyName())
		return "", false
	}
	return s.AsString(), true
}

func (d *decoder) number(obj cty.Value, path string) (*big.Float, bool) {
	v, ok := d.get(obj, path)
	if !ok {
		return nil, false
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil {
		d.failAt(path, "must be a number, got %s", v.Type().FriendlyName())
		return nil, false
	}
	return n.AsBigFloat(), true
}

// integer reads a whole number within [lo, hi].
func (d *decoder) integer(obj cty.Value, path string, lo, hi int) (int, bool) {
	f, ok := d.number(obj, path)
	if !ok {
		return 0, false
	}
	i, acc := f.Int64()
	if !f.IsInt() || acc != big.Exact || i < int64(lo) || i > int64(hi) {
		d.failAt(path, "must be a whole number from %d to %d, got %s", lo, hi, f.Text('g', -1))
		return 0, false
	}
	return int(i), true
}

func (d *decoder) strList(obj cty.Value, path string) ([]string, bool) {
	v, ok := d.get(obj, path)
	if !ok {
		return nil, false
	}
	t := v.Type()
	if !(t.IsListType() || t.IsTupleType() || t.IsSetType()) {
		d.failAt(path, "must be a list of strings, got %s", t.FriendlyName())
		return nil, false
	}
	out := []string{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		s, err := convert.Convert(e, cty.String)
		if err != nil || s.IsNull() {
			d.failAt(path, "must be a list of strings, got an element of type %s", e.Type().FriendlyName())
			return nil, false
		}
		out = append(out, s.AsString())
	}
	return out, true
}

func (d *decoder) strMap(obj cty.Value, path string) (map[string]string, bool) {
	v, ok := d.get(obj, path)
	if !ok {
		return nil, false
	}
	t := v.Type()
	if !(t.IsMapType() || t.IsObjectType()) {
		d.failAt(path, "must be a map of strings, got %s", t.FriendlyName())
		return nil, false
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		s, err := convert.Convert(e, cty.String)
		if err != nil || s.IsNull() {
			d.failAt(path, "%q: must be a string, got %s", k.AsString(), e.Type().FriendlyName())
			return nil, false
		}
		out[k.AsString()] = s.AsString()
	}
	return out, true
}

func (d *decoder) duration(obj cty.Value, path string) (time.Duration, bool) {
	s, ok := d.str(obj, path)
	if !ok {
		return 0, false
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur <= 0 {
		d.failAt(path, "must be a positive duration such as \"20m\", got %q", s)
		return 0, false
	}
	return dur, true
}

// gpuTypes reads gpu_type: one id or a list of them, in order of preference.
func (d *decoder) gpuTypes(obj cty.Value) []string {
	v, ok := d.get(obj, "gpu_type")
	if !ok {
		return nil
	}
	if v.Type() == cty.String {
		return []string{v.AsString()}
	}
	list, ok := d.strList(obj, "gpu_type")
	if ok && len(list) == 0 {
		d.failAt("gpu_type", "must list at least one GPU type")
	}
	return list
}

var (
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	portSpec  = regexp.MustCompile(`^([0-9]{1,5})/(http|tcp)$`)
	reservedE = map[string]string{
		"BENCHFORM_API_KEY":     "benchform sets it to the server's API key",
		"BENCHFORM_GPU_SIDECAR": "benchform sets it",
		"BENCHFORM_GPU_PORT":    "benchform sets it",
	}
)

// decodePod reads a pod's Config. Nothing in it is required at this level
// except what RunPod needs: gpu_type, and an image when no server says
// what runs.
func decodePod(cfg cty.Value, allowUnknown bool) (podConfig, *decoder) {
	d := newDecoder(allowUnknown)
	p := podConfig{gpuCount: 1, containerDiskGB: DefaultContainerDiskGB}
	cfg, _ = cfg.UnmarkDeep()
	if cfg == cty.NilVal || cfg.IsNull() {
		d.fail("the pod has no configuration")
		return p, d
	}
	if !cfg.IsKnown() {
		d.markUnknown("pod")
		return p, d
	}
	p.gpuTypes = d.gpuTypes(cfg)
	if len(p.gpuTypes) == 0 && !d.unknown["gpu_type"] {
		d.failAt("gpu_type", "a runpod pod needs one GPU type id, such as \"NVIDIA H100 80GB HBM3\", or a list of them tried in order")
	}
	for i, g := range p.gpuTypes {
		if strings.TrimSpace(g) == "" {
			d.failAt("gpu_type", "element %d must not be empty", i)
		}
	}
	if n, ok := d.integer(cfg, "gpu_count", 1, 64); ok {
		p.gpuCount = n
	}
	if s, ok := d.str(cfg, "cloud_type"); ok {
		if s != "SECURE" && s != "COMMUNITY" {
			d.failAt("cloud_type", "must be \"SECURE\" or \"COMMUNITY\", got %q", s)
		}
		p.cloudType = s
	}
	if n, ok := d.integer(cfg, "container_disk_gb", 1, 100000); ok {
		p.containerDiskGB = n
	}
	if n, ok := d.integer(cfg, "volume_gb", 0, 100000); ok {
		if n > 0 && n < 10 {
			d.failAt("volume_gb", "RunPod's smallest volume is 10 GB, got %d (0 means none)", n)
		}
		p.volumeGB = n
	}
	if m, ok := d.strMap(cfg, "env"); ok {
		p.env = m
	}
	if l, ok := d.strList(cfg, "ports"); ok {
		p.ports = l
		for i, s := range l {
			if m := portSpec.FindStringSubmatch(s); m == nil || atoi(m[1]) < 1 || atoi(m[1]) > 65535 {
				d.failAt("ports", "element %d must be PORT/http or PORT/tcp, such as \"8000/http\", got %q", i, s)
			}
		}
	}
	if l, ok := d.strList(cfg, "data_center_ids"); ok {
		p.dataCenterIDs = l
	}
	if s, ok := d.str(cfg, "image"); ok {
		p.image = s
	}
	if f, ok := d.number(cfg, "price_per_hour"); ok {
		p.pricePerHour, _ = f.Float64()
		p.hasPrice = true
		if p.pricePerHour < 0 || math.IsInf(p.pricePerHour, 0) {
			d.failAt("price_per_hour", "must not be negative")
		}
	}
	if v, ok := d.get(cfg, "server"); ok {
		s := decodeServerFields(d, v, "server.")
		p.server = &s
	} else if !d.unknown["server"] && p.image == "" && !d.unknown["image"] {
		d.failAt("image", "a pod with no server on it needs an image to run")
	}
	var placed *engines.Engine
	if p.server != nil {
		placed = p.server.engine
	}
	checkEnv(d, "env", p.env, placed)
	return p, d
}

// decodeServer reads a server's Config, with the pod it names.
func decodeServer(cfg cty.Value, allowUnknown bool) (serverConfig, *decoder) {
	d := newDecoder(allowUnknown)
	cfg, _ = cfg.UnmarkDeep()
	if cfg == cty.NilVal || cfg.IsNull() {
		d.fail("the server has no configuration")
		return serverConfig{}, d
	}
	if !cfg.IsKnown() {
		d.markUnknown("server")
		return serverConfig{}, d
	}
	s := decodeServerFields(d, cfg, "")
	if pod, ok := d.get(cfg, "pod"); ok {
		if id, ok := d.str(pod, "pod.id"); ok {
			s.pod.id = id
		}
		if m, ok := d.strMap(pod, "pod.env"); ok {
			s.pod.env = m
		}
		if n, ok := d.integer(pod, "pod.gpu_count", 1, 64); ok {
			s.pod.gpuCount = n
		}
	} else if !d.unknown["pod"] {
		d.failAt("pod", "a server managed by the runpod provider runs on a pod (pod = pod.NAME)")
	}
	return s, d
}

// decodeServerFields reads the server block's own arguments; prefix is
// "server." when they are read from a pod's Config.
func decodeServerFields(d *decoder, v cty.Value, prefix string) serverConfig {
	var s serverConfig
	if name, ok := d.str(v, prefix+"engine"); ok {
		if e, known := engines.Lookup(name); known && e.Launch != nil && e.Launch.Image != "" {
			s.engine = e
		} else {
			d.failAt(prefix+"engine", "a server on a RunPod pod runs an engine with a container image, not %q", name)
		}
	} else if !d.unknown[prefix+"engine"] {
		d.failAt(prefix+"engine", "a server on a RunPod pod needs an engine")
	}
	if m, ok := d.str(v, prefix+"model"); ok && m != "" {
		s.model = m
	} else if !d.unknown[prefix+"model"] {
		d.failAt(prefix+"model", "a server started on a pod needs the model to serve, such as \"Qwen/Qwen2.5-7B-Instruct\"")
	}
	s.servedModelName, _ = d.str(v, prefix+"served_model_name")
	s.apiKey, _ = d.str(v, prefix+"api_key")
	if l, ok := d.strList(v, prefix+"args"); ok {
		s.args = l
	}
	if m, ok := d.strMap(v, prefix+"env"); ok {
		s.env = m
		checkEnv(d, prefix+"env", m, s.engine)
	}
	s.image, _ = d.str(v, prefix+"image")
	if n, ok := d.integer(v, prefix+"port", 1, 65535); ok {
		s.port = n
	}
	s.readyTimeout = DefaultReadyTimeout
	if t, ok := d.duration(v, prefix+"ready_timeout"); ok {
		s.readyTimeout = t
	}
	return s
}

// checkEnv refuses invalid names, and the variables benchform sets itself:
// its own, and those the engine reads its key and settings from.
func checkEnv(d *decoder, path string, m map[string]string, e *engines.Engine) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var engineEnv []string
	if e != nil && e.Launch != nil {
		engineEnv = e.EnvNames()
	}
	for _, k := range names {
		if !envName.MatchString(k) {
			d.failAt(path, "%q is not a valid environment variable name", k)
		}
		if why, ok := reservedE[k]; ok {
			d.failAt(path, "%s cannot be set here: %s", k, why)
		} else if slices.Contains(engineEnv, k) {
			d.failAt(path, "%s cannot be set here: benchform sets it for %s (set the server's api_key for a key of your own)", k, e.Name)
		}
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
