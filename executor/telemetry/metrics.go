package telemetry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MetricType is the type a family declares in its # TYPE line.
type MetricType string

// The metric types of the Prometheus text format.
const (
	// Counter only goes up, except when its process restarts.
	Counter MetricType = "counter"
	// Gauge goes up and down.
	Gauge MetricType = "gauge"
	// Histogram has cumulative _bucket series, _sum and _count.
	Histogram MetricType = "histogram"
	// Summary has quantile series, _sum and _count.
	Summary MetricType = "summary"
	// Untyped is a family without a # TYPE line.
	Untyped MetricType = "untyped"
)

// Scrape is one parsed /metrics exposition.
type Scrape struct {
	// Time is when the scrape was sent; ParseMetrics leaves it zero.
	Time time.Time
	// Latency is how long the server took to answer, body included.
	Latency time.Duration
	// Families maps each exposed family name to its family. Families whose
	// name ends in _created are left out: they are creation timestamps
	// that prometheus_client prints as gauges, and summing them as if they
	// were values is a classic mistake.
	Families map[string]Family
	// Skipped lists the lines the text parser rejected (at most
	// maxSkippedLines, then the parse fails); the rest of the exposition
	// still counts.
	Skipped []string
}

// Family is one metric family: a name, a type and its series.
type Family struct {
	Name   string
	Type   MetricType
	Series []Series
}

// Series is one labelled time series of a family.
type Series struct {
	Labels map[string]string
	// Value is the sample of a counter, gauge or untyped series; NaN for
	// histograms and summaries.
	Value float64
	// Hist holds a histogram's buckets, or a summary's count and sum.
	Hist *Hist
}

// Hist is a classic Prometheus histogram as exposed: cumulative buckets.
type Hist struct {
	Count float64
	Sum   float64
	// HasSum is false when the exposition had no _sum line, which makes
	// a mean impossible.
	HasSum bool
	// Buckets are cumulative, sorted by UpperBound and end with the +Inf
	// bucket. When the exposition lacked +Inf, one is added holding
	// max(Count, last bucket), which is what +Inf must have held.
	Buckets []Bucket
}

// Bucket is one cumulative histogram bucket: observations ≤ UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

const (
	// maxExpositionBytes bounds what a scrape may read; vLLM's /metrics is
	// a few hundred kilobytes.
	maxExpositionBytes = 64 << 20
	// maxSkippedLines bounds how many bad lines a parse tolerates: each
	// one costs a re-parse, and an exposition that bad is not worth
	// reading.
	maxSkippedLines = 32
)

// ParseMetrics reads a Prometheus text-format exposition (version 0.0.4, as
// vLLM and SGLang serve it). Families may be incomplete, as in documentation
// excerpts: a histogram without +Inf bucket or _sum still parses. A line the
// text parser rejects is dropped and parsing goes on, up to a bound.
func ParseMetrics(r io.Reader) (Scrape, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxExpositionBytes+1))
	if err != nil {
		return Scrape{}, fmt.Errorf("telemetry: parse metrics: %w", err)
	}
	if len(data) > maxExpositionBytes {
		return Scrape{}, fmt.Errorf("telemetry: parse metrics: exposition larger than %d bytes", maxExpositionBytes)
	}
	// expfmt reports a last line without newline as a premature end of
	// input.
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	var skipped []string
	for {
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(bytes.NewReader(data))
		if err == nil {
			s := convertFamilies(mfs)
			s.Skipped = skipped
			return s, nil
		}
		var pe expfmt.ParseError
		if !errors.As(err, &pe) || len(skipped) >= maxSkippedLines {
			return Scrape{}, fmt.Errorf("telemetry: parse metrics: %w", err)
		}
		var line []byte
		data, line = dropLine(data, pe.Line)
		if line == nil {
			return Scrape{}, fmt.Errorf("telemetry: parse metrics: %w", err)
		}
		skipped = append(skipped, string(line))
	}
}

// dropLine removes the 1-based line n from data and returns it; line is
// nil when data has no such line.
func dropLine(data []byte, n int) (rest, line []byte) {
	if n < 1 {
		return data, nil
	}
	start := 0
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(data[start:], '\n')
		if j < 0 {
			return data, nil
		}
		start += j + 1
	}
	if start >= len(data) {
		return data, nil
	}
	end := len(data)
	if j := bytes.IndexByte(data[start:], '\n'); j >= 0 {
		end = start + j + 1
	}
	line = bytes.TrimRight(slices.Clone(data[start:end]), "\n")
	rest = append(slices.Clone(data[:start]), data[end:]...)
	return rest, line
}

func convertFamilies(mfs map[string]*dto.MetricFamily) Scrape {
	s := Scrape{Families: make(map[string]Family, len(mfs))}
	for name, mf := range mfs {
		if strings.HasSuffix(name, "_created") {
			continue
		}
		f := Family{Name: name, Type: convertType(mf.GetType())}
		for _, m := range mf.GetMetric() {
			ser := Series{Labels: make(map[string]string, len(m.GetLabel())), Value: math.NaN()}
			for _, lp := range m.GetLabel() {
				ser.Labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case m.Histogram != nil:
				ser.Hist = convertHistogram(m.GetHistogram())
			case m.Summary != nil:
				ser.Hist = &Hist{
					Count:  float64(m.GetSummary().GetSampleCount()),
					Sum:    m.GetSummary().GetSampleSum(),
					HasSum: m.GetSummary().SampleSum != nil,
				}
			case m.Counter != nil:
				ser.Value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				ser.Value = m.GetGauge().GetValue()
			case m.Untyped != nil:
				ser.Value = m.GetUntyped().GetValue()
			}
			f.Series = append(f.Series, ser)
		}
		s.Families[name] = f
	}
	return s
}

func convertType(t dto.MetricType) MetricType {
	switch t {
	case dto.MetricType_COUNTER:
		return Counter
	case dto.MetricType_GAUGE:
		return Gauge
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return Histogram
	case dto.MetricType_SUMMARY:
		return Summary
	default:
		return Untyped
	}
}

func convertHistogram(h *dto.Histogram) *Hist {
	out := &Hist{Sum: h.GetSampleSum(), HasSum: h.SampleSum != nil}
	hasCount := h.SampleCount != nil || h.SampleCountFloat != nil
	out.Count = float64(h.GetSampleCount())
	if h.SampleCountFloat != nil {
		out.Count = h.GetSampleCountFloat()
	}
	for _, b := range h.GetBucket() {
		c := float64(b.GetCumulativeCount())
		if b.CumulativeCountFloat != nil {
			c = b.GetCumulativeCountFloat()
		}
		out.Buckets = append(out.Buckets, Bucket{UpperBound: b.GetUpperBound(), Count: c})
	}
	sort.SliceStable(out.Buckets, func(i, j int) bool { return out.Buckets[i].UpperBound < out.Buckets[j].UpperBound })
	// A bound repeated within one series is a repeated line: the last one
	// stands, so that deltas between scrapes compare like with like.
	dedup := out.Buckets[:0]
	for _, b := range out.Buckets {
		if k := len(dedup); k > 0 && dedup[k-1].UpperBound == b.UpperBound {
			dedup[k-1] = b
			continue
		}
		dedup = append(dedup, b)
	}
	out.Buckets = dedup
	n := len(out.Buckets)
	if n == 0 || !math.IsInf(out.Buckets[n-1].UpperBound, 1) {
		last := 0.0
		if n > 0 {
			last = out.Buckets[n-1].Count
		}
		out.Buckets = append(out.Buckets, Bucket{UpperBound: math.Inf(1), Count: max(out.Count, last)})
	}
	if !hasCount {
		out.Count = out.Buckets[len(out.Buckets)-1].Count
	}
	return out
}

// Family returns the first of names that the scrape has, trying each with
// and without the _total suffix, since prometheus_client declares counters
// without it and exposes them with it, and other exporters differ.
func (s Scrape) Family(names ...string) (Family, bool) {
	for _, n := range names {
		if f, ok := s.Families[n]; ok {
			return f, true
		}
		alt := n + "_total"
		if base, ok := strings.CutSuffix(n, "_total"); ok {
			alt = base
		}
		if f, ok := s.Families[alt]; ok {
			return f, true
		}
	}
	return Family{}, false
}

// num returns a pointer to v, or nil when v is NaN or infinite: JSON has
// no such numbers, and a statistic built on one means nothing.
func num(v float64) *float64 {
	if !finite(v) {
		return nil
	}
	return &v
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// signature is a stable key for a label set, ignoring le and quantile.
func signature(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != "le" && k != "quantile" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(labels[k])
		b.WriteByte(0)
	}
	return b.String()
}
