package runpod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/benchform/benchform/providers"
)

// gpuSample is one reading of a pod's runtime.gpus, shared by the queries
// of the next runtimeSampleTTL.
type gpuSample struct {
	at  time.Time
	pod Pod
}

// runtimeSampleTTL spaces the API reads of the runtime fallback: RunPod
// asks for polls no faster than every 5 to 10 s, and a sampler may ask
// every second.
const runtimeSampleTTL = 5 * time.Second

var gpuField = regexp.MustCompile(`^[a-z0-9_.]+$`)

// QueryGPU runs nvidia-smi's query once on the pod of the server in req
// and returns its CSV (no header, no units), one line per GPU.
//
// A pod whose image runs the command it is given (SGLang's) runs a
// sidecar beside the server that runs nvidia-smi itself; one whose
// image's ENTRYPOINT runs the engine (vLLM's) cannot (see the package
// documentation), so its answer is built from RunPod's runtime.gpus: utilization.gpu, index, name, count,
// timestamp and memory.used/free/total (from RunPod's memory share and the
// catalog's memory size) are filled; every other field gets the N/A in
// square brackets that nvidia-smi itself prints for what a board does not
// report.
func (p *Provider) QueryGPU(ctx context.Context, req providers.GPURequest) ([]byte, error) {
	if len(req.Fields) == 0 {
		return nil, errors.New("runpod: query GPU: no fields")
	}
	for _, f := range req.Fields {
		if !gpuField.MatchString(f) {
			return nil, fmt.Errorf("runpod: query GPU: %q is not an nvidia-smi field name", f)
		}
	}
	s, d := decodeServer(req.Config, false)
	if d.err != nil {
		return nil, fmt.Errorf("runpod: query GPU: %w", d.err)
	}
	if s.pod.id == "" {
		s.pod.id = req.State.ID
	}
	pod, err := p.sample(ctx, s.pod.id, false)
	if err != nil {
		return nil, err
	}
	gpuPort := sidecarPort(s.listenPort())
	if s.runsSidecar() && containsString(pod.Ports, fmt.Sprintf("%d/http", gpuPort)) {
		key, err := p.keyFor(ctx, s)
		if err != nil {
			return nil, err
		}
		return p.querySidecar(ctx, s.pod.id, gpuPort, key, req.Fields)
	}
	if pod, err = p.sample(ctx, s.pod.id, true); err != nil {
		return nil, err
	}
	return p.fromRuntime(ctx, pod, req.Fields)
}

// sample returns the pod as last read, reading it again when the reading
// is older than runtimeSampleTTL (or, for the transport choice only, a
// minute).
func (p *Provider) sample(ctx context.Context, id string, fresh bool) (Pod, error) {
	ttl := time.Minute
	if fresh {
		ttl = runtimeSampleTTL
	}
	p.mu.Lock()
	cached, ok := p.samples[id]
	p.mu.Unlock()
	if ok && p.s.Now().Sub(cached.at) < ttl {
		return cached.pod, nil
	}
	pod, err := p.api.GetPod(ctx, id)
	if err != nil {
		return Pod{}, fmt.Errorf("runpod: query GPU: %w", err)
	}
	pod.Env = nil // nothing here needs it; keep no secret around
	p.mu.Lock()
	p.samples[id] = gpuSample{at: p.s.Now(), pod: pod}
	p.mu.Unlock()
	return pod, nil
}

func (p *Provider) querySidecar(ctx context.Context, podID string, port int, key string, fields []string) ([]byte, error) {
	u := p.s.proxyURL(podID, port) + "/nvidia-smi?fields=" + url.QueryEscape(strings.Join(fields, ","))
	status, body, err := p.proxyGetHeader(ctx, u, key)
	if err != nil {
		return nil, fmt.Errorf("runpod: query GPU on pod %s: %w", podID, err)
	}
	if status.code != http.StatusOK {
		return nil, fmt.Errorf("runpod: query GPU on pod %s: the sidecar answered %d", podID, status.code)
	}
	if status.exit != "0" {
		first, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		return nil, fmt.Errorf("runpod: query GPU on pod %s: nvidia-smi exited %s: %s", podID, firstNonEmpty(status.exit, "?"), first)
	}
	return body, nil
}

type sidecarStatus struct {
	code int
	exit string
}

func (p *Provider) proxyGetHeader(ctx context.Context, u, key string) (sidecarStatus, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return sidecarStatus{}, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("User-Agent", p.s.UserAgent)
	resp, err := p.s.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return sidecarStatus{}, nil, errors.New(p.redactKey(err.Error(), key))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return sidecarStatus{code: resp.StatusCode, exit: resp.Header.Get("X-Exit-Status")}, body, err
}

// fromRuntime builds nvidia-smi's answer from RunPod's runtime.gpus.
func (p *Provider) fromRuntime(ctx context.Context, pod Pod, fields []string) ([]byte, error) {
	if pod.Runtime == nil || len(pod.Runtime.GPUs) == 0 {
		return nil, fmt.Errorf("runpod: query GPU on pod %s: RunPod reports no GPU figures for it yet (status %s)", pod.ID, pod.Status)
	}
	gpuID := ""
	if pod.GPU != nil {
		gpuID = pod.GPU.ID
	}
	totalMiB := -1.0
	if gpuID != "" {
		if gpus, err := p.catalog(ctx); err == nil {
			if g, ok := findGPU(gpus, gpuID); ok && g.MemoryGB > 0 {
				totalMiB = g.MemoryGB * 1024
			}
		}
	}
	now := p.s.Now().Format("2006/01/02 15:04:05.000")
	var out strings.Builder
	for i, g := range pod.Runtime.GPUs {
		vals := make([]string, len(fields))
		for j, f := range fields {
			v := "[N/A]"
			switch f {
			case "index":
				v = strconv.Itoa(i)
			case "timestamp":
				v = now
			case "name", "gpu_name":
				v = firstNonEmpty(gpuID, v)
			case "count":
				v = strconv.Itoa(len(pod.Runtime.GPUs))
			case "utilization.gpu":
				v = strconv.FormatFloat(g.Util, 'f', -1, 64)
			case "memory.total":
				if totalMiB > 0 {
					v = strconv.FormatFloat(totalMiB, 'f', 0, 64)
				}
			case "memory.used":
				if totalMiB > 0 {
					v = strconv.FormatFloat(totalMiB*g.MemoryUtil/100, 'f', 0, 64)
				}
			case "memory.free":
				if totalMiB > 0 {
					v = strconv.FormatFloat(totalMiB*(1-g.MemoryUtil/100), 'f', 0, 64)
				}
			}
			vals[j] = v
		}
		out.WriteString(strings.Join(vals, ", "))
		out.WriteByte('\n')
	}
	return []byte(out.String()), nil
}
