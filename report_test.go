package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/benchform/benchform/state"
)

// htmlReportConfig is a simulated server measured at two loads, so that every
// chart of a report has something to draw.
const htmlReportConfig = `
server "sim" {
  engine = "simulated"
  model  = "tiny"
  simulate {
    ttft        = "20ms"
    itl         = "2ms"
    jitter      = 0.3
    itl_per_seq = "200us"
  }
}

scenario "chat" {
  server     = server.sim
  max_tokens = 16
  dataset {
    kind         = "synthetic"
    input_tokens = 32
  }
  load {
    concurrency = [2, 8]
    requests    = 40
  }
  slo {
    ttft = "60ms"
  }
  telemetry {
    server_interval = "20ms"
  }
}
`

// browser finds Chromium; without it the browser tests are skipped,
// unless BENCHFORM_REQUIRE_BROWSER is set, as CI sets it, where a missing
// browser is a failure.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "no Chromium found: install it (on Debian: apt-get install chromium) to check the report in a browser"
	if os.Getenv("BENCHFORM_REQUIRE_BROWSER") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// chartBox is what the browser made of one chart.
type chartBox struct {
	Series int     `json:"series"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
	Paths  int     `json:"paths"`
}

// TestReportInBrowser writes the report of a simulated run with apply
// -report and opens it in headless Chromium: no console error, nothing
// loaded but the file itself, and every chart drawn (a visible SVG with
// at least a path per series it states). A second load with JavaScript
// disabled still shows every chart. Screenshots are kept under the test's
// temporary directory, and in BENCHFORM_SCREENSHOTS when it names one.
// It does not run in parallel: Chromium's CPU would skew the timing of the
// tests that measure the simulator.
func TestReportInBrowser(t *testing.T) {
	chromium := browser(t)
	dir := configDir(t, htmlReportConfig)
	path := filepath.Join(dir, "report.html")
	if code, out, errOut := benchform(t, "apply", "-auto-approve", "-report", path, dir); code != exitOK {
		t.Fatalf("apply -report: %d\n%s\n%s", code, out, errOut)
	}
	began := time.Now()

	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1200, 900))...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	// The first action starts the browser, and the browser lives as long
	// as that action's context: no timeout on it, one on what follows.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	watch, stopWatching := context.WithTimeout(ctx, 60*time.Second)
	defer stopWatching()

	var mu sync.Mutex
	var problems []string
	var wg sync.WaitGroup
	messages := chromedp.Console(watch)
	requests := chromedp.Events(watch, network.RequestWillBeSent)
	failures := chromedp.Events(watch, network.LoadingFailed)
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, s)
	}
	url := "file://" + path
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				note("console: " + m.Text)
			}
		}
	})
	wg.Go(func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			if ev.Request != nil && ev.Request.URL != url {
				note("the page loaded " + ev.Request.URL)
			}
		}
	})
	wg.Go(func() {
		for ev, err := range failures {
			if err != nil {
				return
			}
			note("failed to load: " + ev.ErrorText)
		}
	})

	if err := chromedp.Do(watch, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	boxes, err := chromedp.Run(watch, chromedp.Evaluate[[]chartBox](`[...document.querySelectorAll("figure.chart")].map(f => {
		const svgs = f.querySelectorAll("svg");
		let width = 0, height = 0, paths = 0;
		for (const s of svgs) {
			const r = s.getBoundingClientRect();
			width = Math.max(width, r.width); height += r.height;
			paths += s.querySelectorAll("path").length;
		}
		return {series: Number(f.dataset.series), width, height, paths};
	})`))
	if err != nil {
		t.Fatal(err)
	}
	// Two latency charts per figure read from the steps, the Pareto
	// front, two distributions, and the timeline with its load and the
	// server's telemetry.
	if len(boxes) < 9 {
		t.Errorf("the report has %d charts, want at least 9", len(boxes))
	}
	for i, b := range boxes {
		if b.Series < 1 || b.Width < 300 || b.Height < 150 || b.Paths < b.Series {
			t.Errorf("chart %d is not drawn: %+v", i, b)
		}
	}
	saveScreenshot(t, watch, chromedp.FullScreenshot(100), "report.png")
	saveScreenshot(t, watch, chromedp.Screenshot(chromedp.CSS(`figure.chart[data-timeline]`)), "report-timeline.png")

	// Without JavaScript the charts are still there: they are markup.
	if _, err := chromedp.Call(watch, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(watch, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	svgs, err := chromedp.Run(watch, chromedp.Nodes(chromedp.CSSAll(`figure.chart svg`)))
	if err != nil {
		t.Fatal(err)
	}
	if len(svgs) < len(boxes) {
		t.Errorf("without JavaScript %d charts show, with it %d", len(svgs), len(boxes))
	}
	for i := 1; i <= len(boxes); i++ {
		box, err := chromedp.Run(watch, chromedp.Dimensions(chromedp.CSS(fmt.Sprintf(`figure.chart:nth-of-type(%d) svg`, i))))
		if err != nil {
			t.Errorf("chart %d without JavaScript: %v", i, err)
			continue
		}
		if box.Width < 300 || box.Height < 150 {
			t.Errorf("chart %d without JavaScript is %dx%d", i, box.Width, box.Height)
		}
	}
	stopWatching()
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("browser checks took %s", time.Since(began).Round(time.Millisecond))
}

func saveScreenshot(t *testing.T, ctx context.Context, shot chromedp.Action[[]byte], name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv("BENCHFORM_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name), png, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// TestReportSize writes the reports of runs of 1k and 100k requests, made
// of synthetic records in state rather than measured, and bounds their
// size: the timeline draws every k-th request beyond a few thousand, and
// says so. Like the browser test it runs alone, being all CPU.
func TestReportSize(t *testing.T) {
	for _, n := range []int{1_000, 100_000} {
		db := syntheticRun(t, n)
		path := filepath.Join(t.TempDir(), "report.html")
		if code, out, errOut := benchform(t, "report", "-state", db, "-o", path); code != exitOK {
			t.Fatalf("report: %d\n%s\n%s", code, out, errOut)
		}
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the report of %d requests is %d bytes", n, len(body))
		if len(body) > 5<<20 {
			t.Errorf("the report of %d requests is %d bytes, over 5 MiB", n, len(body))
		}
		sampled := strings.Contains(string(body), fmt.Sprintf("every %d-th of %d requests is drawn", n/2000, n))
		if sampled != (n > 2000) {
			t.Errorf("%d requests: the timeline says it is downsampled: %v", n, sampled)
		}
	}
}

// syntheticRun writes a state holding one run of n requests that no
// server answered: records made up to size a report, its step summary
// left for benchform to rebuild from them.
func syntheticRun(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "benchform.db")
	st, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	began := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	id, err := st.BeginRun(state.Run{Scenario: "scenario.chat", Status: state.RunRunning, StartedAt: began,
		Spec: []byte(`{"Percentiles": [50, 90, 99], "servers": ["server.sim"], "dataset_note": "synthetic records"}`)})
	if err != nil {
		t.Fatal(err)
	}
	gaps := make([]time.Duration, 15)
	for i := range gaps {
		gaps[i] = time.Duration(20+i) * time.Millisecond
	}
	recs := make([]state.RequestRecord, n)
	for i := range recs {
		recs[i] = state.RequestRecord{RunID: id, Seq: i, RequestID: fmt.Sprintf("r%d", i),
			Start: time.Duration(i) * time.Millisecond, TTFT: time.Duration(40+i%20) * time.Millisecond,
			E2EL: time.Duration(400+i%50) * time.Millisecond, Gaps: gaps, TokenEvents: 16, UsageTokens: 16,
			MaxTokens: 16, PromptTokens: 32, OutputTokens: 16, TokenSource: "usage", HTTPStatus: 200}
	}
	if err := st.InsertRecords(recs); err != nil {
		t.Fatal(err)
	}
	end := began.Add(time.Duration(n)*time.Millisecond + time.Second)
	if err := st.PutStep(state.Step{RunID: id, Index: 0, Server: "server.sim", Label: "concurrency=500", Status: state.RunCompleted, StartedAt: began, FinishedAt: end}); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(id, state.RunCompleted, "", end); err != nil {
		t.Fatal(err)
	}
	return path
}
