package runpod

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// catalogTTL is how long a fetched GPU catalog is used; prices change
// rarely, and one plan asks for every pod.
const catalogTTL = 10 * time.Minute

// catalog returns the GPU catalog, fetched at most once per catalogTTL.
func (p *Provider) catalog(ctx context.Context) ([]GPUType, error) {
	p.mu.Lock()
	if p.gpus != nil && p.s.Now().Sub(p.gpusAt) < catalogTTL {
		gpus := p.gpus
		p.mu.Unlock()
		return gpus, nil
	}
	p.mu.Unlock()
	gpus, err := p.api.GPUTypes(ctx)
	if err != nil {
		return nil, fmt.Errorf("runpod: read the GPU catalog: %w", err)
	}
	if len(gpus) == 0 {
		return nil, fmt.Errorf("runpod: GET /v2/catalog/gpus: field gpus: the catalog is empty")
	}
	p.mu.Lock()
	p.gpus, p.gpusAt = gpus, p.s.Now()
	p.mu.Unlock()
	return gpus, nil
}

func findGPU(gpus []GPUType, id string) (GPUType, bool) {
	for _, g := range gpus {
		if g.ID == id {
			return g, true
		}
	}
	return GPUType{}, false
}

// checkGPUs checks each candidate against the catalog and returns the
// hourly price of each for count GPUs on cloud.
func checkGPUs(gpus []GPUType, ids []string, count int, cloud string) ([]float64, error) {
	prices := make([]float64, len(ids))
	for i, id := range ids {
		g, ok := findGPU(gpus, id)
		if !ok {
			msg := fmt.Sprintf("gpu_type: RunPod has no GPU type %q", id)
			if m := closeMatches(id, gpus); len(m) > 0 {
				msg += "; did you mean " + orList(quoteAll(m)) + "?"
			}
			return nil, fmt.Errorf("%s (ids, not display names: see https://docs.runpod.io/references/gpu-types)", msg)
		}
		price, maxCount, offered := g.offered(cloud)
		if !offered {
			return nil, fmt.Errorf("gpu_type: %q is not offered on RunPod's %s cloud", id, cloud)
		}
		if maxCount > 0 && count > maxCount {
			return nil, fmt.Errorf("gpu_count: a pod on the %s cloud has at most %d of %q, got %d", cloud, maxCount, id, count)
		}
		prices[i] = price * float64(count)
	}
	return prices, nil
}

// closeMatches names up to three catalog ids near id: first those whose
// id or display name equals or contains it (or is contained in it), closest
// in length first, then those a few edits away.
func closeMatches(id string, gpus []GPUType) []string {
	type cand struct {
		id   string
		near bool // one names the other
		dist int
	}
	want := normalise(id)
	var cands []cand
	for _, g := range gpus {
		gid, name := normalise(g.ID), normalise(g.Name)
		switch {
		case want == gid || want == name:
			cands = append(cands, cand{g.ID, true, 0})
		case strings.Contains(gid, want) || strings.Contains(want, gid) || (name != "" && (strings.Contains(name, want) || strings.Contains(want, name))):
			cands = append(cands, cand{g.ID, true, abs(len(gid) - len(want))})
		default:
			if d := editDistance(want, gid); d <= max(2, len(want)/4) {
				cands = append(cands, cand{g.ID, false, d})
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].near != cands[j].near {
			return cands[i].near
		}
		if cands[i].dist != cands[j].dist {
			return cands[i].dist < cands[j].dist
		}
		return cands[i].id < cands[j].id
	})
	var out []string
	for _, c := range cands {
		if len(out) == 3 {
			break
		}
		out = append(out, c.id)
	}
	return out
}

func normalise(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "nvidia ")
	s = strings.TrimPrefix(s, "geforce ")
	return strings.Join(strings.Fields(s), " ")
}

// editDistance is Levenshtein's distance over bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// orList joins "a", "a or b", "a, b or c".
func orList(ss []string) string {
	switch len(ss) {
	case 0:
		return ""
	case 1:
		return ss[0]
	}
	return strings.Join(ss[:len(ss)-1], ", ") + " or " + ss[len(ss)-1]
}
