package dataset

import (
	"fmt"
	"math"
)

// Length is a token count that is the same for every request, drawn
// uniformly from a range, or drawn from a normal distribution. Exactly one
// form is set: Fixed; or Min and Max; or Mean and StdDev. The zero Length
// means unset.
type Length struct {
	// Fixed is the length of every request.
	Fixed int
	// Min and Max bound a uniform draw, both included.
	Min, Max int
	// Mean and StdDev describe a normal draw, rounded to the nearest
	// integer and clipped to at least one token (more where a prefix needs
	// room).
	Mean, StdDev float64
}

// maxLength caps a normal draw so that a wide distribution cannot ask
// for a prompt that would not fit in memory.
const maxLength = 1 << 24

// IsZero reports whether no form of l is set.
func (l Length) IsZero() bool { return l == Length{} }

func (l Length) isUniform() bool { return l.Min != 0 || l.Max != 0 }
func (l Length) isNormal() bool  { return l.Mean != 0 || l.StdDev != 0 }

// Validate reports a Length that sets more than one form or whose numbers
// cannot be drawn from. name is the setting it came from and starts the
// message ("input: max 64 is below min 128"). The zero Length is valid.
func (l Length) Validate(name string) error {
	forms := 0
	for _, set := range []bool{l.Fixed != 0, l.isUniform(), l.isNormal()} {
		if set {
			forms++
		}
	}
	switch {
	case forms > 1:
		return fmt.Errorf("%s: set one of a fixed length, min and max, or mean and stddev", name)
	case l.Fixed != 0:
		if l.Fixed < 1 || l.Fixed > maxLength {
			return fmt.Errorf("%s: %d tokens is outside 1 to %d", name, l.Fixed, maxLength)
		}
	case l.isUniform():
		if l.Min < 1 {
			return fmt.Errorf("%s: min %d is below 1", name, l.Min)
		}
		if l.Max < l.Min {
			return fmt.Errorf("%s: max %d is below min %d", name, l.Max, l.Min)
		}
		if l.Max > maxLength {
			return fmt.Errorf("%s: max %d is above %d", name, l.Max, maxLength)
		}
	case l.isNormal():
		if math.IsNaN(l.Mean) || math.IsNaN(l.StdDev) || math.IsInf(l.Mean, 0) || math.IsInf(l.StdDev, 0) {
			return fmt.Errorf("%s: mean and stddev must be finite numbers", name)
		}
		if l.Mean < 1 || l.Mean > maxLength {
			return fmt.Errorf("%s: mean %g is outside 1 to %d", name, l.Mean, maxLength)
		}
		if l.StdDev < 0 {
			return fmt.Errorf("%s: stddev %g is negative", name, l.StdDev)
		}
	}
	return nil
}

// String describes l for a report: "512 tokens", "256-768 tokens
// (uniform)", "512±64 tokens (normal)"; the zero Length is "unset".
func (l Length) String() string {
	switch {
	case l.Fixed != 0:
		return fmt.Sprintf("%d tokens", l.Fixed)
	case l.isUniform():
		return fmt.Sprintf("%d-%d tokens (uniform)", l.Min, l.Max)
	case l.isNormal():
		return fmt.Sprintf("%g±%g tokens (normal)", l.Mean, l.StdDev)
	}
	return "unset"
}

// smallest returns the least length l produces before clipping; for a
// normal Length, which has no least draw, its mean rounded up.
func (l Length) smallest() int {
	switch {
	case l.Fixed != 0:
		return l.Fixed
	case l.isUniform():
		return l.Min
	case l.isNormal():
		return int(math.Ceil(l.Mean))
	}
	return 0
}

// draw returns one length, at least lo; the zero Length draws 0. l must be
// valid.
func (l Length) draw(r *rng, lo int) int {
	switch {
	case l.Fixed != 0:
		return max(l.Fixed, lo)
	case l.isUniform():
		return max(l.Min+r.intn(l.Max-l.Min+1), lo)
	case l.isNormal():
		v := math.Round(l.Mean + l.StdDev*r.normal())
		return int(min(max(v, float64(lo)), maxLength))
	}
	return 0
}
