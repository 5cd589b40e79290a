package runpod

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/benchform/benchform/engines"
	"github.com/benchform/benchform/providers/probe"
)

// readiness describes one wait for a server on a pod.
type readiness struct {
	engine   *engines.Engine
	podID    string
	port     int
	model    string
	key      string
	timeout  time.Duration
	deadline time.Time // set by waitReady: start + timeout
	since    time.Time // the container must have started after this; zero: any
	progress func(string)
	red      redactor
}

// Bounds of what a failed wait shows of the container log.
const (
	logTailFetch = 200
	logTailShow  = 25
	logLineMax   = 300
)

// probeTimeout bounds one request through the proxy, which itself gives up
// on an origin after 100s.
const probeTimeout = 15 * time.Second

// waitReady waits for the server on a pod without trusting the pod's
// status, which RunPod reports as RUNNING before the container runs: first
// runtime and the port mapping, then /health and /v1/models through the
// proxy. It fails fast when the container stops or fails, with the tail of
// its log. Every loop is bounded by the deadline and by a count of polls.
func (p *Provider) waitReady(ctx context.Context, r readiness) error {
	start := p.s.Now()
	deadline := start.Add(r.timeout)
	r.deadline = deadline
	maxPolls := int(r.timeout/p.s.PollInterval) + 2
	last := "waiting for the pod"
	refused := 0
	for poll := 0; ; poll++ {
		pod, err := p.api.GetPod(ctx, r.podID)
		switch {
		case errors.Is(err, ErrNotFound):
			return fmt.Errorf("runpod: server on pod %s: the pod no longer exists", r.podID)
		case err != nil:
			return fmt.Errorf("runpod: server on pod %s: %w", r.podID, err)
		}
		switch pod.Status {
		case StatusError, StatusExited, StatusTerminated:
			return p.waitFailed(ctx, r, fmt.Sprintf("the container stopped (status %s) after %s", pod.Status, p.since(start)))
		}
		ready, fatal := false, false
		switch {
		case pod.Runtime == nil:
			last = "container not running yet"
		case !portMapped(pod.Runtime, r.port):
			last = fmt.Sprintf("port %d not mapped yet", r.port)
		case !r.since.IsZero() && pod.Runtime.Uptime > p.s.Now().Sub(r.since).Seconds()+5:
			last = "container not restarted yet"
		default:
			ready, last, fatal = p.probe(ctx, r)
			if fatal {
				refused++
			} else {
				refused = 0
			}
		}
		if ready {
			p.report(r, fmt.Sprintf("pod %s: ready, %s listed, %s", r.podID, r.model, p.since(start)))
			return nil
		}
		// An answer that waiting will not change is believed on its third
		// time, as the proxy may briefly answer for an old container.
		if refused >= 3 {
			hint := ""
			if strings.Contains(last, "API key") {
				hint = " (a server started with another key, or VLLM_API_KEY/--api-key set in env or args?)"
			}
			return p.waitFailed(ctx, r, "the server "+last+hint)
		}
		p.report(r, fmt.Sprintf("pod %s: %s, %s, %s", r.podID, pod.Status, last, p.since(start)))
		left := deadline.Sub(p.s.Now())
		if left <= 0 || poll >= maxPolls {
			return p.waitFailed(ctx, r, fmt.Sprintf("not ready after %s (ready_timeout); last: %s", r.timeout, last))
		}
		if err := p.s.Sleep(ctx, min(p.s.PollInterval, left)); err != nil {
			return fmt.Errorf("runpod: server on pod %s: %w (last: %s)", r.podID, err, last)
		}
	}
}

func (p *Provider) since(start time.Time) time.Duration {
	return p.s.Now().Sub(start).Round(time.Second)
}

func (p *Provider) report(r readiness, msg string) {
	if r.progress != nil {
		r.progress(msg)
	}
}

func portMapped(rt *Runtime, port int) bool {
	for _, m := range rt.Ports {
		if m.Private == port {
			return true
		}
	}
	return false
}

// probe asks the server for /health and then /v1/models through the
// proxy. It returns whether the model is listed, or what the server
// answered instead, never with the key, and whether waiting will change it.
func (p *Provider) probe(outer context.Context, r readiness) (ready bool, status string, fatal bool) {
	ctx, cancel := context.WithTimeout(outer, 2*probeTimeout)
	defer cancel()
	o := probe.Options{
		Client:  p.s.HTTPClient,
		BaseURL: p.s.proxyURL(r.podID, r.port),
		APIKey:  r.key,
		Model:   r.model,
		Engine:  r.engine,
		Header:  http.Header{"User-Agent": {p.s.UserAgent}},
	}
	res := probe.Check(ctx, o)
	if res.Pull {
		// A pull takes as long as the download; the wait's own deadline
		// bounds it, not one probe's.
		pullCtx, cancelPull := context.WithTimeout(outer, r.deadline.Sub(p.s.Now()))
		err := probe.Pull(pullCtx, o, func(msg string) { p.report(r, fmt.Sprintf("pod %s: %s", r.podID, msg)) })
		cancelPull()
		if err != nil {
			return false, p.redactKey(err.Error(), r.key), ctx.Err() == nil
		}
		res = probe.Check(ctx, o)
	}
	if res.Ready {
		return true, "ready", false
	}
	return false, p.redactKey(res.Status, r.key), res.Fatal
}

func (p *Provider) redactKey(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, "[redacted]")
}

// waitFailed builds the error of a failed wait with the tail of the
// container's log, where OOMs, gated models and bad flags show.
func (p *Provider) waitFailed(ctx context.Context, r readiness, why string) error {
	msg := fmt.Sprintf("runpod: server on pod %s: %s", r.podID, why)
	lines, err := p.api.PodLogs(ctx, r.podID, logTailFetch)
	switch {
	case err != nil:
		msg += fmt.Sprintf("\n(the container log could not be read: %s)", r.red.clean(err.Error()))
	case len(lines) == 0:
		msg += "\n(the container log is empty)"
	default:
		if len(lines) > logTailShow {
			lines = lines[len(lines)-logTailShow:]
		}
		msg += "\nlast lines of the container log:"
		for _, l := range lines {
			l = r.red.clean(l)
			if len(l) > logLineMax {
				l = l[:logLineMax] + "…"
			}
			msg += "\n  " + l
		}
	}
	return errors.New(r.red.clean(msg))
}

// redactor removes secrets from text that came back from RunPod or a
// container: SGLang, for one, logs its arguments, API key included.
type redactor struct {
	secrets []string
}

// Values shorter than this are not redacted: "1" or "true" would make
// every message unreadable, and they are no secrets.
const minSecretLen = 6

func newRedactor(key string, env map[string]string) redactor {
	var r redactor
	if key != "" {
		r.secrets = append(r.secrets, key)
	}
	for _, k := range sortedKeys(env) {
		if v := env[k]; len(v) >= minSecretLen && k != "BENCHFORM_GPU_SIDECAR" && k != "HF_HOME" {
			r.secrets = append(r.secrets, v)
		}
	}
	// Longest first, so that a secret containing another is hidden whole.
	sort.SliceStable(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

func (r redactor) clean(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}
