package lang

import (
	"fmt"
	"math"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// The helpers below build hcldec specs whose validation runs where the value
// is decoded, so that a diagnostic points at the offending expression.
// Unknown and null values pass: they are checked again when known.

func attr(name string, ty cty.Type) hcldec.Spec {
	return &hcldec.AttrSpec{Name: name, Type: ty}
}

func validated(spec hcldec.Spec, check func(cty.Value) error) hcldec.Spec {
	return &hcldec.ValidateSpec{
		Wrapped: spec,
		Func: func(v cty.Value) hcl.Diagnostics {
			if !v.IsWhollyKnown() || v.IsNull() {
				return nil
			}
			v, _ = v.UnmarkDeep()
			if err := check(v); err != nil {
				return hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  "Invalid value for " + attrName(spec),
					Detail:   sentence(err.Error()),
				}}
			}
			return nil
		},
	}
}

func attrName(spec hcldec.Spec) string {
	if a, ok := spec.(*hcldec.AttrSpec); ok {
		return fmt.Sprintf("%q", a.Name)
	}
	return "argument"
}

// durationAttr is a string such as "500ms" or "2m".
func durationAttr(name string, required bool) hcldec.Spec {
	return validated(&hcldec.AttrSpec{Name: name, Type: cty.String, Required: required}, func(v cty.Value) error {
		d, err := ParseDuration(v.AsString())
		if err != nil {
			return err
		}
		if d < 0 {
			return fmt.Errorf("%s must not be negative", name)
		}
		return nil
	})
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

// intAttr is a whole number of at least min.
func intAttr(name string, min int64, required bool) hcldec.Spec {
	return validated(&hcldec.AttrSpec{Name: name, Type: cty.Number, Required: required}, func(v cty.Value) error {
		return checkInt(name, v, min)
	})
}

func checkInt(name string, v cty.Value, min int64) error {
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return fmt.Errorf("%s must be a whole number, got %s", name, bf.Text('f', -1))
	}
	if bf.Cmp(new(big.Float).SetInt64(min)) < 0 {
		return fmt.Errorf("%s must be at least %d, got %s", name, min, bf.Text('f', -1))
	}
	if bf.Cmp(big.NewFloat(math.MaxInt32)) > 0 {
		return fmt.Errorf("%s must be at most %d, got %s", name, math.MaxInt32, bf.Text('f', -1))
	}
	return nil
}

// numberAttr is a number within [min, max].
func numberAttr(name string, min, max float64) hcldec.Spec {
	return validated(attr(name, cty.Number), func(v cty.Value) error {
		f, _ := v.AsBigFloat().Float64()
		if f < min || f > max {
			return fmt.Errorf("%s must be between %g and %g, got %g", name, min, max, f)
		}
		return nil
	})
}

// enumAttr is one of a fixed set of strings.
func enumAttr(name string, required bool, values ...string) hcldec.Spec {
	return validated(&hcldec.AttrSpec{Name: name, Type: cty.String, Required: required}, func(v cty.Value) error {
		return checkEnum(name, v.AsString(), values)
	})
}

func checkEnum(name, got string, values []string) error {
	for _, want := range values {
		if got == want {
			return nil
		}
	}
	return fmt.Errorf("%s must be one of %s, got %q", name, quoteList(values), got)
}

func quoteList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = fmt.Sprintf("%q", v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// urlAttr is an http or https URL.
func urlAttr(name string) hcldec.Spec {
	return validated(attr(name, cty.String), func(v cty.Value) error {
		u, err := url.Parse(v.AsString())
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s must be an http:// or https:// URL such as \"http://localhost:8000\", got %q", name, v.AsString())
		}
		return nil
	})
}

// intListAttr is a non-empty list of whole numbers of at least min.
func intListAttr(name string, min int64, required bool) hcldec.Spec {
	return validated(&hcldec.AttrSpec{Name: name, Type: cty.List(cty.Number), Required: required}, func(v cty.Value) error {
		if v.LengthInt() == 0 {
			return fmt.Errorf("%s must list at least one value", name)
		}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if err := checkInt(name+" values", e, min); err != nil {
				return err
			}
		}
		return nil
	})
}

// block is an optional nested block, or a required one.
func block(name string, required bool, nested hcldec.ObjectSpec) hcldec.Spec {
	return &hcldec.BlockSpec{TypeName: name, Nested: nested, Required: required}
}

// sentence capitalises a message and ends it with a period, the form of a
// diagnostic's detail.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
