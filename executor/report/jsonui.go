package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/benchform/benchform/executor"
	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/internal/safetext"
	"github.com/benchform/benchform/lang"
)

// JSONUIVersion is the version of the machine-readable UI stream. Its
// minor part grows when messages or fields are added; its major part would
// grow only for a change that breaks a client, which is never made lightly.
const JSONUIVersion = "1.0"

// JSONUIModule is the @module of every message, as terraform.ui is
// Terraform's.
const JSONUIModule = "benchform.ui"

// StepProgressInterval is the least time between two step_progress
// messages of one step: a stream consumer wants a pulse, not a message per
// request.
const StepProgressInterval = time.Second

// jsonTimestamp is Terraform's: RFC 3339 with microseconds and an offset.
const jsonTimestamp = "2006-01-02T15:04:05.000000Z07:00"

// JSONUI writes plan, apply and destroy as Terraform's machine-readable UI
// does: one JSON object per line, each with @level, @message, @module,
// @timestamp and type. It is an executor.Hook for the apply's progress,
// and the caller sends it the plan, diagnostics, outputs and summaries.
// Messages are written whole, one at a time, so lines never interleave
// though hooks come from many goroutines.
type JSONUI struct {
	w   io.Writer
	now func() time.Time

	mu sync.Mutex
	// providers are the providers of the plan's resources, which the hooks
	// are not told, for the resources' implied_provider.
	providers map[lang.Addr]string
	started   map[lang.Addr]startedAction
	steps     map[stepKey]*jsonStep
	// err is the first write error; later messages are dropped, since a
	// stream with a gap would mislead its reader.
	err error
}

type startedAction struct {
	action executor.Action
	at     time.Time
}

type jsonStep struct {
	*stepProgress
	lastSent time.Time
}

var _ executor.Hook = (*JSONUI)(nil)

// NewJSONUI returns a JSONUI writing to w and stamping messages with now
// (time.Now when nil; tests fix it).
func NewJSONUI(w io.Writer, now func() time.Time) *JSONUI {
	if now == nil {
		now = time.Now
	}
	return &JSONUI{w: w, now: now, providers: map[lang.Addr]string{}, started: map[lang.Addr]startedAction{}, steps: map[stepKey]*jsonStep{}}
}

// emit writes one message. The caller holds u.mu.
func (u *JSONUI) emit(level, typ, message string, payload ...field) {
	if u.err != nil {
		return
	}
	msg := append(orderedObject{
		{"@level", level},
		{"@message", message},
		{"@module", JSONUIModule},
		{"@timestamp", u.now().Format(jsonTimestamp)},
		{"type", typ},
	}, payload...)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if u.err = enc.Encode(msg); u.err != nil {
		return
	}
	_, u.err = u.w.Write(safetext.EscapeJSON(buf.Bytes()))
}

func (u *JSONUI) send(level, typ, message string, payload ...field) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.emit(level, typ, message, payload...)
}

// Version writes the first message of the stream.
func (u *JSONUI) Version(benchformVersion string) {
	u.send("info", "version", "benchform "+benchformVersion, field{"benchform", benchformVersion}, field{"ui", JSONUIVersion})
}

// Log writes a line of text that has no message type of its own.
func (u *JSONUI) Log(message string) {
	u.send("info", "log", message)
}

// Plan writes a planned_change for every resource the plan changes, in the
// order the text plan lists them, then the plan's change_summary. Notes
// come first and costs last, as log messages.
func (u *JSONUI) Plan(plan *executor.Plan) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range plan.Changes {
		u.providers[c.Addr] = c.Provider
	}
	for _, note := range plan.Notes {
		u.emit("info", "log", note)
	}
	for _, c := range sortedChanges(plan) {
		u.emit("info", "planned_change", fmt.Sprintf("%s: Plan to %s", c.Addr, jsonAction(c.Action)),
			field{"change", orderedObject{{"resource", u.resource(c.Addr)}, {"action", jsonAction(c.Action)}}})
	}
	u.emit("info", "change_summary", Summary(plan), field{"changes", PlanCounts(plan).fields("plan")})
	// Money is never left out of a plan: its lines in the text UI follow
	// as log messages.
	var costs strings.Builder
	writeCosts(&printer{w: &costs}, plan)
	for _, line := range strings.Split(costs.String(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			u.emit("info", "log", line)
		}
	}
}

// ChangeSummary writes the change_summary that ends an apply or a destroy
// (operation "apply" or "destroy"); message is the line the text UI
// prints.
func (u *JSONUI) ChangeSummary(operation string, counts ChangeCounts, message string) {
	u.send("info", "change_summary", message, field{"changes", counts.fields(operation)})
}

// Outputs writes the configuration's outputs after an apply: each with its
// type and value, except sensitive ones, which carry neither value nor
// anything derived from it.
func (u *JSONUI) Outputs(outputs map[string]cty.Value) {
	if len(outputs) == 0 {
		return
	}
	names := make([]string, 0, len(outputs))
	for n := range outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	obj := make(orderedObject, 0, len(names))
	for _, n := range names {
		obj = append(obj, field{n, outputJSON(outputs[n])})
	}
	u.send("info", "outputs", fmt.Sprintf("Outputs: %d", len(names)), field{"outputs", obj})
}

func outputJSON(v cty.Value) orderedObject {
	if v.ContainsMarked() {
		return orderedObject{{"sensitive", true}}
	}
	out := orderedObject{{"sensitive", false}}
	if ty, err := ctyjson.MarshalType(v.Type()); err == nil {
		out = append(out, field{"type", json.RawMessage(ty)})
	}
	if v.IsWhollyKnown() {
		if b, err := ctyjson.Marshal(v, v.Type()); err == nil {
			out = append(out, field{"value", json.RawMessage(b)})
		}
	}
	return out
}

// Diagnostics writes one diagnostic message per diagnostic, in the order
// the text UI prints them, with the range and source snippet of those
// that have a place in files.
func (u *JSONUI) Diagnostics(files map[string]*hcl.File, diags hcl.Diagnostics) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, d := range sortDiagnostics(diags) {
		u.diagnostic(files, d, "")
	}
}

// Error writes an error that has no place in a file.
func (u *JSONUI) Error(summary string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.diagnostic(nil, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary}, "")
}

// Warning writes a warning that has no place in a file.
func (u *JSONUI) Warning(summary string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.diagnostic(nil, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary}, "")
}

// diagnostic writes a diagnostic message, about the resource at address
// when it is not ""; the caller holds u.mu.
func (u *JSONUI) diagnostic(files map[string]*hcl.File, d *hcl.Diagnostic, address string) {
	level, prefix := "error", "Error: "
	if d.Severity == hcl.DiagWarning {
		level, prefix = "warn", "Warning: "
	}
	u.emit(level, "diagnostic", prefix+d.Summary, field{"diagnostic", diagnosticJSON(files, d, address)})
}

// diagnosticJSON is a diagnostic as Terraform's json.Diagnostic writes it:
// severity, summary, detail, then address, range and snippet where known.
func diagnosticJSON(files map[string]*hcl.File, d *hcl.Diagnostic, address string) orderedObject {
	severity := "error"
	if d.Severity == hcl.DiagWarning {
		severity = "warning"
	}
	out := orderedObject{{"severity", severity}, {"summary", d.Summary}, {"detail", d.Detail}}
	if address != "" {
		out = append(out, field{"address", address})
	}
	if d.Subject == nil {
		return out
	}
	r := *d.Subject
	out = append(out, field{"range", orderedObject{
		{"filename", r.Filename},
		{"start", jsonPos(r.Start)},
		{"end", jsonPos(r.End)},
	}})
	if f := files[r.Filename]; f != nil && f.Bytes != nil {
		if s := snippet(f, r, d.Context); s != nil {
			out = append(out, field{"snippet", s})
		}
	}
	return out
}

func jsonPos(p hcl.Pos) orderedObject {
	return orderedObject{{"line", p.Line}, {"column", p.Column}, {"byte", p.Byte}}
}

// snippet is Terraform's diagnostic snippet: the source lines the subject
// (widened to its context, when given) covers, the enclosing block's
// header as context, and where in those lines the subject lies. values is
// always empty: the values an expression read would have to be screened
// for secrets one by one, and the detail already names those that matter.
func snippet(f *hcl.File, subject hcl.Range, context *hcl.Range) orderedObject {
	lines := subject
	if context != nil {
		lines = hcl.RangeOver(subject, *context)
	}
	src := f.Bytes
	if lines.Start.Byte < 0 || lines.End.Byte > len(src) || lines.Start.Byte > lines.End.Byte {
		return nil
	}
	start := bytes.LastIndexByte(src[:lines.Start.Byte], '\n') + 1
	end := len(src)
	if i := bytes.IndexByte(src[lines.End.Byte:], '\n'); i >= 0 {
		end = lines.End.Byte + i
	}
	if lines.End.Byte > lines.Start.Byte && lines.End.Byte > start && src[lines.End.Byte-1] == '\n' {
		end = lines.End.Byte - 1
	}
	var blockContext any
	if nav, ok := f.Nav.(interface{ ContextString(int) string }); ok {
		if s := nav.ContextString(subject.Start.Byte); s != "" {
			blockContext = s
		}
	}
	return orderedObject{
		{"context", blockContext},
		{"code", string(src[start:end])},
		{"start_line", lines.Start.Line},
		{"highlight_start_offset", subject.Start.Byte - start},
		{"highlight_end_offset", min(subject.End.Byte, end) - start},
		{"values", []any{}},
	}
}

// resource is Terraform's resource identity object; the caller holds u.mu.
func (u *JSONUI) resource(addr lang.Addr) orderedObject {
	provider := u.providers[addr]
	if addr.Kind == lang.KindScenario {
		// Scenarios are benchform's own, as terraform_data is
		// Terraform's.
		provider = "benchform"
	}
	var key any
	if addr.Key != "" {
		if n, err := strconv.Atoi(addr.Key); err == nil {
			key = n
		} else if v := lang.KeyValue(addr.Key); v.Type() == cty.String {
			key = v.AsString()
		}
	}
	return orderedObject{
		{"addr", addr.String()},
		{"module", ""},
		{"resource", addr.String()},
		{"implied_provider", provider},
		{"resource_type", string(addr.Kind)},
		{"resource_name", addr.Name},
		{"resource_key", key},
	}
}

// jsonAction is Terraform's name of an action; a scenario's run, which
// Terraform has no word for, is "run".
func jsonAction(a executor.Action) string {
	switch a {
	case executor.Create:
		return "create"
	case executor.Update:
		return "update"
	case executor.Replace:
		return "replace"
	case executor.Delete:
		return "delete"
	case executor.Run:
		return "run"
	}
	return "noop"
}

// PreApply writes apply_start.
func (u *JSONUI) PreApply(addr lang.Addr, action executor.Action) {
	if action == executor.NoOp {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.started[addr] = startedAction{action, u.now()}
	u.emit("info", "apply_start", fmt.Sprintf("%s: %s...", addr, presentParticiple(action, addr)),
		field{"hook", orderedObject{{"resource", u.resource(addr)}, {"action", jsonAction(action)}}})
}

// PostApply writes apply_complete, or apply_errored when err is set; the
// error itself follows as a diagnostic, once the apply returns it.
func (u *JSONUI) PostApply(addr lang.Addr, action executor.Action, err error) {
	if action == executor.NoOp {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	elapsed := u.now().Sub(u.started[addr].at)
	typ, message := "apply_complete", fmt.Sprintf("%s: %s complete after %s", addr, noun(action, addr), jsonElapsed(elapsed))
	if err != nil {
		typ, message = "apply_errored", fmt.Sprintf("%s: %s errored after %s", addr, noun(action, addr), jsonElapsed(elapsed))
	}
	u.emit("info", typ, message, field{"hook", orderedObject{
		{"resource", u.resource(addr)},
		{"action", jsonAction(action)},
		{"elapsed_seconds", elapsed.Seconds()},
	}})
}

// jsonElapsed rounds to the second as Terraform's messages do ("after 3s").
func jsonElapsed(d time.Duration) string {
	return d.Round(time.Second).String()
}

// Progress writes apply_progress with what the provider said, under the
// action PreApply started.
func (u *JSONUI) Progress(addr lang.Addr, msg string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.started[addr]
	elapsed := u.now().Sub(s.at)
	if s.at.IsZero() {
		elapsed = 0
	}
	u.emit("info", "apply_progress", fmt.Sprintf("%s: %s [%s elapsed]", addr, msg, jsonElapsed(elapsed)), field{"hook", orderedObject{
		{"resource", u.resource(addr)},
		{"action", jsonAction(s.action)},
		{"elapsed_seconds", elapsed.Seconds()},
		{"message", msg},
	}})
}

// Warn writes a warning diagnostic naming the resource.
func (u *JSONUI) Warn(addr lang.Addr, msg string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.diagnostic(nil, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: msg}, addr.String())
}

// stepJSON identifies a step and what it will send.
func (u *JSONUI) stepJSON(scenario lang.Addr, step executor.StepInfo) orderedObject {
	out := orderedObject{
		{"resource", u.resource(scenario)},
		{"server", step.Server.String()},
		{"step", step.Index},
		{"label", step.Label},
	}
	if step.Rate != 0 {
		out = append(out, field{"request_rate", executor.Rate(step.Rate)}, field{"max_concurrency", step.MaxConcurrency})
	} else {
		out = append(out, field{"concurrency", step.Concurrency})
	}
	if step.Duration > 0 {
		out = append(out, field{"duration_seconds", step.Duration.Seconds()})
	} else {
		out = append(out, field{"requests", step.Requests})
	}
	out = append(out, field{"warmup", step.Warmup})
	if step.Repeats > 0 {
		out = append(out, field{"repeat", step.Repeat}, field{"repeats", step.Repeats})
	}
	return out
}

// StepStart writes step_start.
func (u *JSONUI) StepStart(scenario lang.Addr, step executor.StepInfo) {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := u.now()
	u.steps[stepKey{scenario, step.Index}] = &jsonStep{stepProgress: &stepProgress{info: step, start: now}, lastSent: now}
	u.emit("info", "step_start", fmt.Sprintf("%s: %s %s: %s", scenario, step.Server, step.Label, stepSize(step)), field{"step", u.stepJSON(scenario, step)})
}

// RequestDone counts a request and writes step_progress when the step has
// not reported for StepProgressInterval.
func (u *JSONUI) RequestDone(scenario lang.Addr, step executor.StepInfo, rec *workload.Record) {
	if rec.Warmup {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.steps[stepKey{scenario, step.Index}]
	if s == nil {
		return
	}
	now := u.now()
	s.count(now, rec)
	if now.Sub(s.lastSent) < StepProgressInterval {
		return
	}
	s.lastSent = now
	done, failed, rate := s.done.Load(), s.failed.Load(), s.rate.perSecond(now)
	elapsed := now.Sub(s.start)
	u.emit("info", "step_progress", fmt.Sprintf("%s: %s %s: %d/%s, %d failed, %s elapsed, %.0f output tok/s", scenario, step.Server, step.Label, done, stepSize(step), failed, jsonElapsed(elapsed), rate),
		field{"step", append(u.stepJSON(scenario, step),
			field{"done", done},
			field{"failed", failed},
			field{"cut_off", s.cutOff.Load()},
			field{"elapsed_seconds", elapsed.Seconds()},
			field{"output_throughput", rate},
		)})
}

// StepDone writes step_complete with the step's results, as results
// -format json writes a step.
func (u *JSONUI) StepDone(scenario lang.Addr, step executor.StepInfo, s executor.StepSummary) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.steps, stepKey{scenario, step.Index})
	u.emit("info", "step_complete", fmt.Sprintf("%s: %s %s: %d ok, %d failed, %.2f req/s, %.1f output tok/s", scenario, step.Server, step.Label, s.Completed, s.Failed, s.RequestThroughput, s.OutputThroughput),
		field{"step", append(u.stepJSON(scenario, step), field{"results", orderedObject(stepFields(s))})})
}
