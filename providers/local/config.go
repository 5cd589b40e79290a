package local

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/benchform/benchform/engines"
	"github.com/benchform/benchform/providers"
)

// DefaultReadyTimeout bounds the wait for a server to answer when its
// configuration sets no ready_timeout.
const DefaultReadyTimeout = providers.DefaultReadyTimeout

// loopback is the address servers listen on: without an API key a server
// must not be reachable from other machines.
const loopback = "127.0.0.1"

// sensitive replaces secrets in what is stored or shown.
const sensitive = "(sensitive)"

// serverConfig is what the provider reads of a server block.
type serverConfig struct {
	engine       *engines.Engine // one benchform can start
	model        string
	servedName   string // "" when not set
	apiKey       string // "" when not set
	args         []string
	env          map[string]string
	port         int // 0: pick a free port when the server starts
	readyTimeout time.Duration
	executable   string // "" for the engine's own
}

// servedModel is the name the server lists and requests carry.
func (c serverConfig) servedModel() string {
	return c.engine.ServedModel(c.model, c.servedName)
}

// decodeServer reads a server configuration that must be wholly known.
func decodeServer(v cty.Value) (serverConfig, error) {
	c, unknown, err := decodeServerPartial(v)
	if err != nil {
		return c, err
	}
	if len(unknown) > 0 {
		return c, fmt.Errorf("local: %s: value is not known yet", firstKey(unknown))
	}
	return c, nil
}

// decodeServerPartial reads a server configuration, skipping the values
// that are not known yet (returned by name) and checking the rest. Errors
// name the attribute and never quote a value that may be secret.
func decodeServerPartial(v cty.Value) (serverConfig, map[string]bool, error) {
	c := serverConfig{readyTimeout: DefaultReadyTimeout}
	unknown := map[string]bool{}
	if v == cty.NilVal || v.IsNull() {
		return c, unknown, errors.New("local: server: no configuration")
	}
	v, _ = v.UnmarkDeep()
	if !v.IsKnown() {
		for _, name := range []string{"engine", "model", "served_model_name", "api_key", "args", "env", "port", "ready_timeout", "executable"} {
			unknown[name] = true
		}
		return c, unknown, nil
	}
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		return c, unknown, fmt.Errorf("local: server: configuration must be an object, got %s", v.Type().FriendlyName())
	}
	d := decoder{obj: v, unknown: unknown}

	if s, ok := d.str("engine", false); ok {
		if e, known := engines.Lookup(s); known && e.Launch != nil {
			c.engine = e
		} else {
			d.failAt("engine", "the local provider cannot start a %q server", s)
		}
	} else if !unknown["engine"] {
		d.failAt("engine", "must name the engine to start")
	}
	if s, ok := d.str("model", false); ok && s != "" {
		c.model = s
	} else if !unknown["model"] {
		d.failAt("model", "must name the model to serve")
	}
	if s, ok := d.str("served_model_name", false); ok {
		c.servedName = s
	}
	if s, ok := d.str("api_key", true); ok {
		c.apiKey = s
	}
	if s, ok := d.str("executable", false); ok {
		if s == "" {
			d.failAt("executable", "must not be empty")
		}
		c.executable = s
	}
	if s, ok := d.str("ready_timeout", false); ok {
		t, err := time.ParseDuration(s)
		switch {
		case err != nil:
			d.failAt("ready_timeout", "invalid duration %q", s)
		case t <= 0:
			d.failAt("ready_timeout", "must be positive, got %s", t)
		default:
			c.readyTimeout = t
		}
	}
	if n, ok := d.number("port"); ok {
		i, acc := n.Int64()
		if !n.IsInt() || acc != big.Exact || i < 1 || i > 65535 {
			d.failAt("port", "must be a whole number from 1 to 65535, got %s", n.Text('g', -1))
		} else {
			c.port = int(i)
		}
	}
	if l, ok := d.get("args"); ok {
		c.args = d.strings("args", l)
		for _, a := range c.args {
			if a == "--port" || strings.HasPrefix(a, "--port=") {
				d.failAt("args", "set the port with the port argument rather than %s, so that benchform knows where the server listens", a)
				break
			}
		}
	}
	if m, ok := d.get("env"); ok {
		c.env = d.envMap(m)
	}
	return c, unknown, d.err
}

// decoder reads attributes of obj, keeping the first error.
type decoder struct {
	obj     cty.Value
	unknown map[string]bool
	err     error
}

// failAt keeps an error about the attribute at path ("port", "env.HF_TOKEN"),
// which the executor reports where the file sets it.
func (d *decoder) failAt(path, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("local: %w", providers.AttrErrorf(path, format, args...))
	}
}

// get returns the attribute name when it is set and known.
func (d *decoder) get(name string) (cty.Value, bool) {
	var v cty.Value
	t := d.obj.Type()
	switch {
	case t.IsObjectType():
		if !t.HasAttribute(name) {
			return cty.NilVal, false
		}
		v = d.obj.GetAttr(name)
	default:
		k := cty.StringVal(name)
		if !d.obj.HasIndex(k).True() {
			return cty.NilVal, false
		}
		v = d.obj.Index(k)
	}
	if v.IsNull() {
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		d.unknown[name] = true
		return cty.NilVal, false
	}
	return v, true
}

// str reads a string attribute. secret keeps the value out of the error.
func (d *decoder) str(name string, secret bool) (string, bool) {
	v, ok := d.get(name)
	if !ok {
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil || s.IsNull() {
		d.failAt(name, "must be a string, got %s", v.Type().FriendlyName())
		return "", false
	}
	if strings.IndexByte(s.AsString(), 0) >= 0 {
		if secret {
			d.failAt(name, "must not contain a NUL byte")
		} else {
			d.failAt(name, "must not contain a NUL byte, got %q", s.AsString())
		}
		return "", false
	}
	return s.AsString(), true
}

func (d *decoder) number(name string) (*big.Float, bool) {
	v, ok := d.get(name)
	if !ok {
		return nil, false
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil || n.IsNull() {
		d.failAt(name, "must be a number, got %s", v.Type().FriendlyName())
		return nil, false
	}
	return n.AsBigFloat(), true
}

func (d *decoder) strings(name string, l cty.Value) []string {
	t := l.Type()
	if !t.IsListType() && !t.IsTupleType() && !t.IsSetType() {
		d.failAt(name, "must be a list of strings, got %s", t.FriendlyName())
		return nil
	}
	out := []string{}
	i := 0
	for it := l.ElementIterator(); it.Next(); i++ {
		_, e := it.Element()
		s, err := convert.Convert(e, cty.String)
		if err != nil || s.IsNull() {
			d.failAt(name, "element %d must be a string", i)
			return nil
		}
		if strings.IndexByte(s.AsString(), 0) >= 0 {
			d.failAt(name, "element %d must not contain a NUL byte", i)
			return nil
		}
		out = append(out, s.AsString())
	}
	return out
}

// envMap reads env. Errors name the variable, never its value: env is
// where tokens (HF_TOKEN) are passed.
func (d *decoder) envMap(m cty.Value) map[string]string {
	t := m.Type()
	if !t.IsMapType() && !t.IsObjectType() {
		d.failAt("env", "must be a map of strings, got %s", t.FriendlyName())
		return nil
	}
	out := map[string]string{}
	for it := m.ElementIterator(); it.Next(); {
		k, e := it.Element()
		name := k.AsString()
		if name == "" || strings.ContainsAny(name, "=\x00") {
			d.failAt("env", "%q is not a valid variable name", name)
			return nil
		}
		s, err := convert.Convert(e, cty.String)
		if err != nil || s.IsNull() {
			d.failAt("env."+name, "must be a string")
			return nil
		}
		if strings.IndexByte(s.AsString(), 0) >= 0 {
			d.failAt("env."+name, "must not contain a NUL byte")
			return nil
		}
		out[name] = s.AsString()
	}
	return out
}

func firstKey(m map[string]bool) string {
	first := ""
	for k := range m {
		if first == "" || k < first {
			first = k
		}
	}
	return first
}

// command is the argv that starts the server, executable first, and what
// its environment needs besides the configuration's env. Each argument is
// its own element and no shell is involved, so arguments with spaces or
// quotes reach the engine as written.
func command(c serverConfig, port int) (argv []string, env map[string]string) {
	cmd := engines.Command{
		Executable: c.executable,
		Model:      c.model,
		ServedName: c.servedName,
		Host:       loopback,
		Port:       port,
		APIKey:     c.apiKey,
		Args:       c.args,
	}
	return c.engine.Argv(cmd), c.engine.Environment(cmd, c.apiKey)
}

// redactArgv returns argv as it may be stored and shown: the API key and
// the value of any flag named like a credential (--api-key, --hf-token,
// --admin-api-key) replaced.
func redactArgv(argv []string, key string) []string {
	out := make([]string, len(argv))
	hideNext := false
	for i, a := range argv {
		switch {
		case hideNext:
			out[i] = sensitive
			hideNext = false
			continue
		case credentialFlag(a):
			hideNext = true
		}
		if name, _, ok := strings.Cut(a, "="); ok && credentialFlag(name) {
			a = name + "=" + sensitive
		}
		if key != "" {
			a = strings.ReplaceAll(a, key, sensitive)
		}
		out[i] = a
	}
	return out
}

// credentialFlag reports whether a is a flag whose value is a secret.
// Matching the end of the name catches --api-key and --hf-token but not
// --max-num-batched-tokens or --tokenizer.
func credentialFlag(a string) bool {
	if !strings.HasPrefix(a, "--") || strings.Contains(a, "=") {
		return false
	}
	a = strings.ReplaceAll(strings.ToLower(a), "_", "-")
	for _, suffix := range []string{"-key", "-token", "-secret", "-password"} {
		if strings.HasSuffix(a, suffix) {
			return true
		}
	}
	return false
}

// shellQuote renders argv for a human reading a log, not for a shell to
// run: the process is started without one.
func shellQuote(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`*?;&|<>()[]{}!#~") {
			parts[i] = a
			continue
		}
		parts[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(parts, " ")
}
