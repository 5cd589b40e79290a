package dataset

import (
	"math"
	"math/bits"
)

// rng is a SplitMix64 stream. The package derives every draw from its own
// generator rather than math/rand/v2's methods so that a seed keeps giving
// byte-identical prompts across Go releases: only this file decides how
// bits become lengths and words.
type rng struct{ s uint64 }

const golden = 0x9e3779b97f4a7c15

// Streams keep the draws of different uses apart, so that a prompt's words
// depend only on the seed and its own index, never on how many prompts
// were asked for or on draws made for another purpose.
const (
	streamPrompt = iota
	streamPrefix
	streamRecord
	streamSample
	numStreams
)

func newRNG(seed int64, use, index int) rng {
	stream := uint64(index)*numStreams + uint64(use)
	return rng{s: mix64(uint64(seed)) ^ mix64(stream+golden)}
}

func (r *rng) next() uint64 {
	r.s += golden
	return mix64(r.s)
}

func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn returns a uniform integer in [0, n) by Lemire's multiply-and-reject
// method, which has no modulo bias.
func (r *rng) intn(n int) int {
	un := uint64(n)
	hi, lo := bits.Mul64(r.next(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.next(), un)
		}
	}
	return int(hi)
}

// float64 returns a uniform number in [0, 1).
func (r *rng) float64() float64 {
	return float64(r.next()>>11) / (1 << 53)
}

// normal returns a standard normal draw by the Box–Muller transform.
func (r *rng) normal() float64 {
	u1 := 1 - r.float64() // in (0, 1], so the logarithm is finite
	u2 := r.float64()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}
