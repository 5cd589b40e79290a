package telemetry

import (
	"bytes"
	"testing"
)

// BenchmarkParseMetrics parses SGLang's documented exposition, the cost a
// sampler pays per scrape.
func BenchmarkParseMetrics(b *testing.B) {
	in := readFixture(b, "sglang-metrics.txt")
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := ParseMetrics(bytes.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServerStats reduces a two-engine window of 600 samples, ten
// minutes at the default interval.
func BenchmarkServerStats(b *testing.B) {
	before, after := parseString(b, vllmBefore), parseString(b, vllmAfter)
	samples := make([]ServerSample, 600)
	for i := range samples {
		samples[i] = ServerSample{Replicas: []ReplicaSample{replicaSample("0", 4, 1, 0.5), replicaSample("1", 3, 0, 0.4)}}
	}
	w := ServerWindow{Before: &before, After: &after, Samples: samples}
	for b.Loop() {
		_ = w.Stats()
	}
}
