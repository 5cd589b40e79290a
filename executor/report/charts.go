package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// chart is one plot of a report: its SVG, inline, and how many series it
// draws, which the page states so that a reader (or a test) can tell a
// chart that lost its data.
type chart struct {
	Title   string
	Caption string
	SVG     string
	Series  int
	// Timeline marks the chart of requests over time.
	Timeline bool
}

// series is one named line or set of points of a chart.
type series struct {
	name   string
	points plotter.XYs
	// marks are points drawn apart on the same series, such as failing
	// probes.
	marks plotter.XYs
	// dots draws points without a line.
	dots bool
}

// threshold is a horizontal line across a chart, such as an objective.
type threshold struct {
	name string
	y    float64
}

// Chart sizes: wide enough for a laptop screen, small enough to print two
// to a page.
const (
	chartWidth  = 7 * vg.Inch
	chartHeight = 3.6 * vg.Inch
)

// lineChart draws series as lines with their points, and thresholds as
// dashed horizontal lines.
func lineChart(title, xLabel, yLabel string, ss []series, ts []threshold) (chart, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	drawn := 0
	for i, s := range ss {
		if len(s.points) == 0 {
			continue
		}
		c := plotutil.Color(i)
		sc, err := plotter.NewScatter(s.points)
		if err != nil {
			return chart{}, fmt.Errorf("%s: %w", title, err)
		}
		sc.GlyphStyle.Color = c
		sc.GlyphStyle.Shape = plotutil.Shape(i)
		sc.GlyphStyle.Radius = vg.Points(2.5)
		if s.dots {
			sc.GlyphStyle.Radius = vg.Points(3.5)
			p.Add(sc)
			p.Legend.Add(s.name, sc)
		} else {
			l, err := plotter.NewLine(s.points)
			if err != nil {
				return chart{}, fmt.Errorf("%s: %w", title, err)
			}
			l.LineStyle.Color = c
			l.LineStyle.Width = vg.Points(1.5)
			p.Add(l, sc)
			p.Legend.Add(s.name, l, sc)
		}
		if len(s.marks) > 0 {
			m, err := plotter.NewScatter(s.marks)
			if err != nil {
				return chart{}, fmt.Errorf("%s: %w", title, err)
			}
			m.GlyphStyle.Color = color.RGBA{R: 200, A: 255}
			m.GlyphStyle.Shape = draw.CrossGlyph{}
			m.GlyphStyle.Radius = vg.Points(5)
			p.Add(m)
			p.Legend.Add(s.name+": failed probe", m)
		}
		drawn++
	}
	for i, t := range ts {
		y := t.y
		f := plotter.NewFunction(func(float64) float64 { return y })
		f.LineStyle.Color = color.RGBA{R: 180, G: 40, B: 40, A: 255}
		f.LineStyle.Dashes = plotutil.Dashes(i + 1)
		f.LineStyle.Width = vg.Points(1)
		p.Add(f)
		p.Legend.Add(t.name, f)
		if y > p.Y.Max {
			p.Y.Max = y * 1.05
		}
	}
	if drawn == 0 {
		return chart{}, nil
	}
	svg, err := renderSVG(p)
	if err != nil {
		return chart{}, fmt.Errorf("%s: %w", title, err)
	}
	return chart{Title: title, SVG: svg, Series: drawn}, nil
}

// requestBars draws each request as a bar from its send to its last
// token, with its first token marked: one row per request.
func requestBars(title string, bars plotter.XYs, spans plotter.XErrors, firsts plotter.XYs) (chart, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds since the step began"
	p.Y.Label.Text = "request"
	eb, err := plotter.NewXErrorBars(struct {
		plotter.XYs
		plotter.XErrors
	}{bars, spans})
	if err != nil {
		return chart{}, err
	}
	eb.LineStyle.Color = plotutil.Color(0)
	eb.LineStyle.Width = vg.Points(0.8)
	eb.CapWidth = 0
	p.Add(eb)
	thumb, err := plotter.NewLine(plotter.XYs{{}, {}})
	if err != nil {
		return chart{}, err
	}
	thumb.LineStyle = eb.LineStyle
	p.Legend.Add("send → last token", thumb)
	if len(firsts) > 0 {
		sc, err := plotter.NewScatter(firsts)
		if err != nil {
			return chart{}, err
		}
		sc.GlyphStyle.Color = plotutil.Color(1)
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		sc.GlyphStyle.Radius = vg.Points(1.2)
		p.Add(sc)
		p.Legend.Add("first token", sc)
	}
	// Requests run from the bottom left to the top right.
	p.Legend.Top, p.Legend.Left = true, true
	svg, err := renderSVG(p)
	if err != nil {
		return chart{}, err
	}
	return chart{Title: title, SVG: svg, Series: 2}, nil
}

// renderSVG draws a plot as an SVG element to inline in HTML: without
// the XML prologue a standalone file needs, and scaling to its container.
func renderSVG(p *plot.Plot) (string, error) {
	c := vgsvg.New(chartWidth, chartHeight)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	return s, nil
}

// cdf is the empirical distribution of values as at most n points, the
// quantiles at even steps, so that a step of a million requests draws as
// few points as one of a thousand.
func cdf(values []float64, n int) plotter.XYs {
	if len(values) == 0 {
		return nil
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	if len(sorted) <= n {
		out := make(plotter.XYs, len(sorted))
		for i, v := range sorted {
			out[i] = plotter.XY{X: v, Y: float64(i+1) / float64(len(sorted))}
		}
		return out
	}
	out := make(plotter.XYs, n)
	for i := range n {
		k := int(math.Round(float64(i) * float64(len(sorted)-1) / float64(n-1)))
		out[i] = plotter.XY{X: sorted[k], Y: float64(k+1) / float64(len(sorted))}
	}
	return out
}
