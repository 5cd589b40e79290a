package providers

import (
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// Schema is what a provider declares of the blocks it reads and of what its
// pods can do. main registers each provider's with the configuration
// language, which decodes, checks and types the blocks from it; the
// provider still checks what it receives.
type Schema struct {
	// Provider holds the arguments of the provider's own block
	// (provider "runpod" { ... }).
	Provider map[string]Attribute
	// Pod holds the arguments of its pod blocks; nil for a provider that
	// manages no pods.
	Pod map[string]Attribute
	// PodComputed are the attributes of a pod the provider sets during
	// apply, which other blocks may refer to.
	PodComputed map[string]cty.Type
	// Pods says what a pod of the provider can do.
	Pods PodCapabilities
}

// PodCapabilities are what a provider's pods can do.
type PodCapabilities struct {
	// ServersPerPod is how many servers one pod can run; 0 means any
	// number.
	ServersPerPod int
	// RunsServer: a pod runs the container of the server placed on it,
	// from the engine's image, so the pod's configuration carries the
	// server's (see Configuration shapes). Otherwise servers run as
	// processes on the pod's machine, from an executable.
	RunsServer bool
	// Bills: a pod costs money while it exists, so every plan lists it.
	Bills bool
}

// Schemer is implemented by providers that declare a schema.
type Schemer interface {
	Schema() Schema
}

// Attribute is one argument of a block.
type Attribute struct {
	Type     cty.Type
	Required bool
	// Hint says what a value looks like, for the error about a missing
	// required argument.
	Hint string
	// Validate checks a known, non-null value; its error, which names
	// no attribute, becomes the detail of a diagnostic on the value.
	Validate func(cty.Value) error
}

// DefaultReadyTimeout bounds the wait for a server a provider starts to
// answer when its configuration sets no ready_timeout: large models take
// minutes to load.
const DefaultReadyTimeout = 20 * time.Minute

// Attributes the executor reads of the objects providers return and the
// configurations it hands them.
const (
	// AttrID is an object's provider id, in every object.
	AttrID = "id"
	// AttrCostPerHour is a pod's hourly price in USD, once known;
	// AttrCostPerHourMax its bound while the GPU type is still to be
	// chosen.
	AttrCostPerHour    = "cost_per_hour"
	AttrCostPerHourMax = "cost_per_hour_max"
	// AttrTTL is the longest a pod may live, a duration string.
	AttrTTL = "ttl"
	// AttrPricePerHour is a price a configuration states for a pod or
	// server, which wins over the provider's.
	AttrPricePerHour = "price_per_hour"
	// AttrReadyTimeout is how long a server may take to answer once
	// started.
	AttrReadyTimeout = "ready_timeout"
	// AttrGPUSelected is the GPU type a pod got, and AttrGPUCount how
	// many, where its provider says.
	AttrGPUSelected = "gpu_type_selected"
	AttrGPUCount    = "gpu_count"
	// AttrServer is, in a pod's configuration, the server placed on it;
	// AttrPod, in a server's, the pod it is placed on.
	AttrServer = "server"
	AttrPod    = "pod"
)

// AttributeError is an error about one attribute of a configuration, such
// as server.engine in a pod's: the executor reports it on that attribute
// where the file sets it.
type AttributeError struct {
	// Path names the attribute, outermost first: ["gpu_count"],
	// ["server", "engine"].
	Path []string
	Err  error
}

func (e *AttributeError) Error() string { return strings.Join(e.Path, ".") + ": " + e.Err.Error() }

func (e *AttributeError) Unwrap() error { return e.Err }

// AttrErrorf returns an AttributeError about the attribute at path, a
// dotted name ("server.engine").
func AttrErrorf(path, format string, args ...any) error {
	return &AttributeError{Path: strings.Split(path, "."), Err: fmt.Errorf(format, args...)}
}

// Validators for Attribute.Validate. Their errors name no attribute; the
// caller does.

// WholeNumber accepts whole numbers from lo to hi.
func WholeNumber(lo, hi int64) func(cty.Value) error {
	return func(v cty.Value) error {
		bf := v.AsBigFloat()
		switch {
		case !bf.IsInt():
			return fmt.Errorf("must be a whole number, got %s", bf.Text('f', -1))
		case bf.Cmp(new(big.Float).SetInt64(lo)) < 0:
			return fmt.Errorf("must be at least %d, got %s", lo, bf.Text('f', -1))
		case bf.Cmp(new(big.Float).SetInt64(hi)) > 0:
			return fmt.Errorf("must be at most %d, got %s", hi, bf.Text('f', -1))
		}
		return nil
	}
}

// NumberBetween accepts numbers within [lo, hi].
func NumberBetween(lo, hi float64) func(cty.Value) error {
	return func(v cty.Value) error {
		f, _ := v.AsBigFloat().Float64()
		if f < lo || f > hi {
			return fmt.Errorf("must be between %g and %g, got %g", lo, hi, f)
		}
		return nil
	}
}

// OneOf accepts one of a set of strings.
func OneOf(values ...string) func(cty.Value) error {
	return func(v cty.Value) error {
		got := v.AsString()
		for _, w := range values {
			if got == w {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s, got %q", QuoteList(values), got)
	}
}

// Duration accepts a non-negative duration such as "500ms" or "2m".
func Duration(v cty.Value) error {
	d, err := ParseDuration(v.AsString())
	if err != nil {
		return fmt.Errorf("must be a duration, a number and a unit such as \"500ms\", \"30s\" or \"2m\", got %q", v.AsString())
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	return nil
}

// ParseDuration reads a duration as written in configuration: Go's syntax
// ("1h30m", "250ms", "1.5s").
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write a number and a unit such as \"500ms\", \"30s\" or \"2m\"", s)
	}
	return d, nil
}

// HTTPURL accepts an http or https URL with a host.
func HTTPURL(v cty.Value) error {
	u, err := url.Parse(v.AsString())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an http:// or https:// URL such as \"http://localhost:8000\", got %q", v.AsString())
	}
	return nil
}

// QuoteList quotes values and joins them as a sentence does: "a", "b" or
// "c".
func QuoteList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = fmt.Sprintf("%q", v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
