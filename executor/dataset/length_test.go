package dataset

import (
	"math"
	"testing"
)

func TestLengthValidate(t *testing.T) {
	tests := []struct {
		name string
		l    Length
		want string // "" for valid
	}{
		{"zero", Length{}, ""},
		{"fixed", Length{Fixed: 512}, ""},
		{"uniform", Length{Min: 1, Max: 1}, ""},
		{"normal", Length{Mean: 512, StdDev: 64}, ""},
		{"normal without spread", Length{Mean: 512}, ""},
		{"two forms", Length{Fixed: 512, Mean: 512}, "input: set one of a fixed length, min and max, or mean and stddev"},
		{"three forms", Length{Fixed: 1, Min: 1, Max: 2, StdDev: 1}, "input: set one of a fixed length, min and max, or mean and stddev"},
		{"negative fixed", Length{Fixed: -3}, "input: -3 tokens is outside 1 to 16777216"},
		{"huge fixed", Length{Fixed: 1 << 30}, "input: 1073741824 tokens is outside 1 to 16777216"},
		{"min zero", Length{Max: 10}, "input: min 0 is below 1"},
		{"max below min", Length{Min: 128, Max: 64}, "input: max 64 is below min 128"},
		{"max huge", Length{Min: 1, Max: 1 << 30}, "input: max 1073741824 is above 16777216"},
		{"stddev alone", Length{StdDev: 5}, "input: mean 0 is outside 1 to 16777216"},
		{"negative stddev", Length{Mean: 10, StdDev: -1}, "input: stddev -1 is negative"},
		{"nan", Length{Mean: math.NaN()}, "input: mean and stddev must be finite numbers"},
		{"infinite", Length{Mean: 10, StdDev: math.Inf(1)}, "input: mean and stddev must be finite numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := tt.l.Validate("input"); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLengthString(t *testing.T) {
	tests := []struct {
		l    Length
		want string
	}{
		{Length{}, "unset"},
		{Length{Fixed: 512}, "512 tokens"},
		{Length{Min: 256, Max: 768}, "256-768 tokens (uniform)"},
		{Length{Mean: 512, StdDev: 64}, "512±64 tokens (normal)"},
		{Length{Mean: 100.5, StdDev: 0.25}, "100.5±0.25 tokens (normal)"},
	}
	for _, tt := range tests {
		if got := tt.l.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.l, got, tt.want)
		}
	}
}

// draws returns n lengths from l, each from its own stream as prompts get
// them.
func draws(l Length, n, lo int) []int {
	out := make([]int, n)
	for i := range out {
		r := newRNG(7, streamPrompt, i)
		out[i] = l.draw(&r, lo)
	}
	return out
}

func meanStdDev(xs []int) (mean, sd float64) {
	for _, x := range xs {
		mean += float64(x)
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		sd += (float64(x) - mean) * (float64(x) - mean)
	}
	return mean, math.Sqrt(sd / float64(len(xs)-1))
}

func TestLengthDraw(t *testing.T) {
	const n = 5000
	t.Run("fixed", func(t *testing.T) {
		for i, got := range draws(Length{Fixed: 300}, n, 1) {
			if got != 300 {
				t.Fatalf("draw %d = %d, want 300", i, got)
			}
		}
	})
	t.Run("uniform", func(t *testing.T) {
		seen := map[int]int{}
		for i, got := range draws(Length{Min: 10, Max: 19}, n, 1) {
			if got < 10 || got > 19 {
				t.Fatalf("draw %d = %d, want 10 to 19", i, got)
			}
			seen[got]++
		}
		// Each of the ten values expects 500 draws; 400 is over four
		// standard deviations below.
		for v := 10; v <= 19; v++ {
			if seen[v] < 400 {
				t.Errorf("value %d drawn %d times in %d, want about %d", v, seen[v], n, n/10)
			}
		}
	})
	t.Run("normal", func(t *testing.T) {
		mean, sd := meanStdDev(draws(Length{Mean: 512, StdDev: 64}, n, 1))
		// The standard error of the mean is 64/√5000 ≈ 0.9 and of the
		// standard deviation about 0.64.
		if math.Abs(mean-512) > 4 {
			t.Errorf("mean = %.2f, want 512 ± 4", mean)
		}
		if math.Abs(sd-64) > 3 {
			t.Errorf("stddev = %.2f, want 64 ± 3", sd)
		}
	})
	t.Run("normal clipped", func(t *testing.T) {
		low := 0
		for i, got := range draws(Length{Mean: 2, StdDev: 10}, n, 1) {
			if got < 1 {
				t.Fatalf("draw %d = %d, want at least 1", i, got)
			}
			if got == 1 {
				low++
			}
		}
		if low < n/3 {
			t.Errorf("%d of %d draws clipped to 1, want about half", low, n)
		}
	})
	t.Run("normal without spread", func(t *testing.T) {
		for i, got := range draws(Length{Mean: 99.6}, 100, 1) {
			if got != 100 {
				t.Fatalf("draw %d = %d, want 100", i, got)
			}
		}
	})
	t.Run("zero", func(t *testing.T) {
		for i, got := range draws(Length{}, 100, 1) {
			if got != 0 {
				t.Fatalf("draw %d = %d, want 0", i, got)
			}
		}
	})
}
