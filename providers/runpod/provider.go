package runpod

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/providers"
)

// Provider manages RunPod pods (Kind pod) and the vLLM or SGLang servers
// that run on them (Kind server). It is safe for concurrent use.
type Provider struct {
	s   Settings
	api API

	mu     sync.Mutex
	gpus   []GPUType // the catalog, fetched at gpusAt
	gpusAt time.Time
	secret []byte
	names  map[string]string // pod id → name, for deriving server keys
	// changed records when this process last restarted a pod's container,
	// so that a readiness wait does not take the old container's answers
	// for the new one's.
	changed map[string]time.Time
	samples map[string]gpuSample // pod id → last runtime.gpus reading
}

var (
	_ providers.Provider   = (*Provider)(nil)
	_ providers.GPUQuerier = (*Provider)(nil)
)

// New returns a provider that talks to RunPod's REST v2 API with s.
func New(s Settings) *Provider {
	s = s.withDefaults()
	return NewWithAPI(s, NewClient(s))
}

// NewWithAPI returns a provider that uses api as its transport, with s
// for everything else (clock, proxy, secret directory).
func NewWithAPI(s Settings, api API) *Provider {
	return &Provider{
		s:       s.withDefaults(),
		api:     api,
		names:   map[string]string{},
		changed: map[string]time.Time{},
		samples: map[string]gpuSample{},
	}
}

// Name lookups after a create that may have succeeded: lists lag behind
// creates by a few seconds, so look more than once before concluding.
var lookupDelays = []time.Duration{0, 2 * time.Second, 4 * time.Second, 8 * time.Second}

// createTries bounds the creates of one GPU type after failures that
// left no pod behind.
const createTries = 3

// Plan checks a configuration and prices a pod from the GPU catalog.
func (p *Provider) Plan(ctx context.Context, req providers.PlanRequest) (providers.PlanResponse, error) {
	switch req.Kind {
	case providers.KindPod:
		return p.planPod(ctx, req)
	case providers.KindServer:
		return p.planServer(req)
	}
	return providers.PlanResponse{}, kindError(req.Kind)
}

// Create rents a pod, or waits for the server on one to be ready.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) (providers.State, error) {
	switch req.Kind {
	case providers.KindPod:
		return p.createPod(ctx, req)
	case providers.KindServer:
		return p.readyServer(ctx, req.Name, req.Config, req.Progress)
	}
	return providers.State{}, kindError(req.Kind)
}

// Read refreshes a pod, or a server through its pod.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) (providers.ReadResponse, error) {
	switch req.Kind {
	case providers.KindPod:
		return p.readPod(ctx, req.Prior)
	case providers.KindServer:
		return p.readServer(ctx, req.Prior)
	}
	return providers.ReadResponse{}, kindError(req.Kind)
}

// Update changes a pod's container in place (it restarts) and starts a
// stopped pod; for a server it waits for readiness again.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) (providers.State, error) {
	switch req.Kind {
	case providers.KindPod:
		return p.updatePod(ctx, req)
	case providers.KindServer:
		return p.readyServer(ctx, req.Prior.Name, req.Config, req.Progress)
	}
	return providers.State{}, kindError(req.Kind)
}

// Delete terminates a pod (a stopped pod still bills for its disk); a
// server goes with its pod, so deleting one does nothing.
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) error {
	switch req.Kind {
	case providers.KindPod:
		return p.deletePod(ctx, req.Prior)
	case providers.KindServer:
		return nil
	}
	return kindError(req.Kind)
}

func kindError(k providers.Kind) error {
	return fmt.Errorf("runpod: manages pods and servers, not %q", k)
}

// planPod validates a pod and prices it. Values not known yet are skipped
// and the attributes that depend on them left unknown.
func (p *Provider) planPod(ctx context.Context, req providers.PlanRequest) (providers.PlanResponse, error) {
	cfg, d := decodePod(req.Config, true)
	if d.err != nil {
		return providers.PlanResponse{}, d.err
	}
	cloud := firstNonEmpty(cfg.cloudType, p.s.CloudType)
	gpuKnown := !d.unknown["gpu_type"] && !d.unknown["gpu_count"] && !d.unknown["cloud_type"]
	var prices []float64
	if gpuKnown && len(cfg.gpuTypes) > 0 {
		gpus, err := p.catalog(ctx)
		if err != nil {
			return providers.PlanResponse{}, err
		}
		if prices, err = checkGPUs(gpus, cfg.gpuTypes, cfg.gpuCount, cloud); err != nil {
			return providers.PlanResponse{}, err
		}
	}

	replacing := false
	if req.Prior != nil {
		for _, name := range podRequiresReplace {
			if !sameValue(topAttr(req.Prior.Attrs, name), topAttr(req.Config, name)) {
				replacing = true
			}
		}
	}
	keep := req.Prior != nil && !replacing
	vals := map[string]cty.Value{}
	if keep {
		vals["id"] = cty.StringVal(req.Prior.ID)
		for _, name := range []string{"gpu_type_selected", "cloud_selected", "data_center_id", "created_at", "cost_per_hour"} {
			if a := attr(req.Prior.Attrs, name); a != cty.NilVal {
				vals[name] = a
			}
		}
	}
	switch {
	case cfg.hasPrice:
		vals["cost_per_hour"] = cty.NumberFloatVal(cfg.pricePerHour)
	case d.unknown["price_per_hour"]:
		delete(vals, "cost_per_hour")
	case keep && vals["cost_per_hour"] != cty.NilVal:
	case len(prices) > 0 && allEqual(prices):
		vals["cost_per_hour"] = cty.NumberFloatVal(prices[0])
	}
	if !keep && gpuKnown && len(cfg.gpuTypes) == 1 {
		vals["gpu_type_selected"] = cty.StringVal(cfg.gpuTypes[0])
	}
	if containerKnown(d) {
		c, err := buildContainer(cfg, "")
		if err != nil {
			return providers.PlanResponse{}, err
		}
		vals["image"] = cty.StringVal(c.image)
		vals["args"] = cty.StringVal(shownArgs(cfg))
		vals["ports"] = strList(c.ports)
	}
	planned := objectOf(podAttrTypes, vals)
	if c := vals["cost_per_hour"]; (c == cty.NilVal || !c.IsKnown()) && len(prices) > 0 {
		// The price depends on which GPU type has capacity at create time;
		// the dearest candidate bounds it, which is what a plan can promise.
		m := planned.AsValueMap()
		m["cost_per_hour_max"] = cty.NumberFloatVal(slices.Max(prices))
		planned = cty.ObjectVal(m)
	}
	return providers.PlanResponse{
		Planned:         planned,
		RequiresReplace: append([]string(nil), podRequiresReplace...),
	}, nil
}

// containerKnown reports whether everything the container is built from
// is known.
func containerKnown(d *decoder) bool {
	for path := range d.unknown {
		switch {
		case path == "pod", path == "image", path == "ports", path == "gpu_count", path == "volume_gb",
			path == "server", strings.HasPrefix(path, "server."):
			return false
		}
	}
	return true
}

func allEqual(fs []float64) bool {
	for _, f := range fs[1:] {
		if f != fs[0] {
			return false
		}
	}
	return true
}

// createPod rents the pod under req.Name, which the executor has already
// stored, trying each GPU type in order while RunPod refuses for capacity.
// It returns as soon as the pod exists: waiting for the server is the
// server's Create, after the executor has recorded the pod's id.
func (p *Provider) createPod(ctx context.Context, req providers.CreateRequest) (providers.State, error) {
	cfg, d := decodePod(req.Config, false)
	if d.err != nil {
		return providers.State{}, fmt.Errorf("runpod: create pod: %w", d.err)
	}
	if req.Name == "" {
		return providers.State{}, errors.New("runpod: create pod: no name to create it under")
	}
	key := ""
	if cfg.server != nil {
		key = cfg.server.apiKey
		if key == "" {
			var err error
			if key, err = p.serverKey(req.Name); err != nil {
				return providers.State{}, err
			}
		}
	}
	c, err := buildContainer(cfg, key)
	if err != nil {
		return providers.State{}, fmt.Errorf("runpod: create pod: %w", err)
	}
	red := newRedactor(key, c.env)
	cloud := firstNonEmpty(cfg.cloudType, p.s.CloudType)
	body := CreatePodRequest{
		Name:          req.Name,
		Image:         c.image,
		Cloud:         cloud,
		DataCenterIDs: cfg.dataCenterIDs,
		Args:          c.args,
		Disk:          cfg.containerDiskGB,
		Env:           c.env,
		Ports:         c.ports,
	}
	if cfg.volumeGB > 0 {
		body.Mounts = &Mounts{Persistent: &PersistentMount{Size: cfg.volumeGB, Path: volumeMountPath}}
	}
	var refused []string
	for _, gpu := range cfg.gpuTypes {
		body.GPU = &GPURequest{ID: gpu, Count: cfg.gpuCount}
		pod, err := p.createOne(ctx, body)
		if err == nil {
			p.remember(pod.ID, req.Name)
			return p.podState(ctx, req.Name, pod, cfg, c, gpu), nil
		}
		var ae *APIError
		if errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusForbidden) {
			// A 400 is RunPod's "no capacity" (or a rule this type
			// breaks) and a 403 a pool the key may not use: nothing was
			// created, and another type may do.
			refused = append(refused, fmt.Sprintf("%q: %s", gpu, red.clean(firstNonEmpty(ae.Detail, ae.Hint, http.StatusText(ae.Status)))))
			continue
		}
		return providers.State{}, fmt.Errorf("runpod: create pod %s: %s", req.Name, red.clean(err.Error()))
	}
	return providers.State{}, fmt.Errorf("runpod: create pod %s: no GPU type could be rented: %s", req.Name, strings.Join(refused, "; "))
}

// createOne creates a pod of one GPU type. After an answer that leaves in
// doubt whether the pod was made (a 5xx, a timeout, a lost connection) it
// looks for the pod by its unique name, and adopts it if found, before
// trying again: creates are not idempotent and take no client token.
func (p *Provider) createOne(ctx context.Context, body CreatePodRequest) (Pod, error) {
	var lastErr error
	for try := 1; try <= createTries; try++ {
		pod, err := p.api.CreatePod(ctx, body)
		if err == nil {
			if try > 1 {
				// An earlier try may have created a pod that the lookups
				// did not see yet; this one is kept, any twin ended.
				p.endTwins(ctx, body.Name, pod.ID)
			}
			return pod, nil
		}
		if definite(err) {
			return Pod{}, err
		}
		lastErr = err
		if ctx.Err() != nil {
			// The state row keeps the name; the next refresh finds the
			// pod if it was made.
			return Pod{}, fmt.Errorf("%w (the pod may have been created: the next plan looks for it by name)", err)
		}
		found, ferr := p.findByName(ctx, body.Name, lookupDelays)
		if found != nil {
			return *found, nil
		}
		if ferr != nil {
			return Pod{}, fmt.Errorf("%w; could not check whether the pod was created anyway: %v (the next plan looks for it by name)", err, ferr)
		}
	}
	return Pod{}, lastErr
}

// findByName lists pods, waiting delays[i] before the i-th look, until one
// named name shows up. It returns the oldest such pod, or nil. It fails
// only when no list succeeded.
func (p *Provider) findByName(ctx context.Context, name string, delays []time.Duration) (*Pod, error) {
	var lastErr error
	listed := false
	for _, wait := range delays {
		if err := p.s.Sleep(ctx, wait); err != nil {
			return nil, err
		}
		pods, err := p.api.ListPods(ctx)
		if err != nil {
			lastErr = err
			continue
		}
		listed = true
		if m := named(pods, name); len(m) > 0 {
			return &m[0], nil
		}
	}
	if listed {
		return nil, nil
	}
	return nil, lastErr
}

// named returns the pods called name that are not terminated, oldest first.
func named(pods []Pod, name string) []Pod {
	var out []Pod
	for _, pod := range pods {
		if pod.Name == name && pod.Status != StatusTerminated {
			out = append(out, pod)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt < out[j].CreatedAt
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// endTwins terminates pods named name other than keep. The name is unique
// to one benchform object, so a twin can only be a duplicate of a create
// that answered with an error; it is ended rather than left billing.
func (p *Provider) endTwins(ctx context.Context, name, keep string) {
	pods, err := p.api.ListPods(ctx)
	if err != nil {
		return // Delete looks for twins by name again
	}
	for _, pod := range named(pods, name) {
		if pod.ID != keep {
			_ = p.api.DeletePod(ctx, pod.ID) // best effort: Delete ends twins too
		}
	}
}

// podState is the State of a pod just created or adopted.
func (p *Provider) podState(ctx context.Context, name string, pod Pod, cfg podConfig, c container, gpu string) providers.State {
	selected := gpu
	if pod.GPU != nil && pod.GPU.ID != "" {
		selected = pod.GPU.ID
	}
	created := pod.CreatedAt
	if created == "" {
		created = p.s.Now().UTC().Format(time.RFC3339)
	}
	vals := map[string]cty.Value{
		"id":                cty.StringVal(pod.ID),
		"gpu_type_selected": cty.StringVal(selected),
		"image":             cty.StringVal(c.image),
		"args":              cty.StringVal(shownArgs(cfg)),
		"ports":             strList(c.ports),
		"created_at":        cty.StringVal(created),
		"cost_per_hour":     p.cost(ctx, cfg, pod, selected),
	}
	placement(vals, pod)
	return providers.State{ID: pod.ID, Name: name, Attrs: objectOf(podAttrTypes, vals)}
}

// cost is what the pod costs per hour: the configured price, else what
// RunPod bills, else the catalog's price.
func (p *Provider) cost(ctx context.Context, cfg podConfig, pod Pod, gpu string) cty.Value {
	if cfg.hasPrice {
		return cty.NumberFloatVal(cfg.pricePerHour)
	}
	if pod.Cost > 0 {
		return cty.NumberFloatVal(pod.Cost)
	}
	if gpus, err := p.catalog(ctx); err == nil {
		if g, ok := findGPU(gpus, gpu); ok {
			price, _, _ := g.offered(firstNonEmpty(cfg.cloudType, pod.Cloud, p.s.CloudType))
			return cty.NumberFloatVal(price * float64(cfg.gpuCount))
		}
	}
	return cty.NullVal(cty.Number)
}

func (p *Provider) remember(id, name string) {
	p.mu.Lock()
	p.names[id] = name
	p.mu.Unlock()
}

// readPod refreshes a pod. A pod without an id is a create that was
// interrupted: it is looked for by its name and adopted when found.
func (p *Provider) readPod(ctx context.Context, prior providers.State) (providers.ReadResponse, error) {
	if prior.ID == "" {
		if prior.Name == "" {
			return providers.ReadResponse{State: prior}, nil
		}
		found, err := p.findByName(ctx, prior.Name, lookupDelays[:3])
		if err != nil {
			return providers.ReadResponse{}, fmt.Errorf("runpod: look for pod %s: %w", prior.Name, err)
		}
		if found == nil {
			return providers.ReadResponse{State: prior}, nil
		}
		p.remember(found.ID, found.Name)
		st := providers.State{ID: found.ID, Name: prior.Name, Attrs: fillAttrs(prior.Attrs, p.adoptedAttrs(ctx, *found, prior.Attrs))}
		return providers.ReadResponse{State: st, Exists: true, Drift: statusDrift(found.Status)}, nil
	}
	pod, err := p.api.GetPod(ctx, prior.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return providers.ReadResponse{State: prior, Drift: "terminated outside benchform"}, nil
	case err != nil:
		return providers.ReadResponse{}, err
	case pod.Status == StatusTerminated:
		return providers.ReadResponse{State: prior, Drift: "terminated outside benchform"}, nil
	}
	p.remember(pod.ID, pod.Name)
	st := providers.State{ID: prior.ID, Name: firstNonEmpty(prior.Name, pod.Name), Attrs: fillAttrs(prior.Attrs, p.adoptedAttrs(ctx, pod, prior.Attrs))}
	return providers.ReadResponse{State: st, Exists: true, Drift: statusDrift(pod.Status)}, nil
}

// statusDrift explains a pod that is not running as benchform left it.
func statusDrift(status string) string {
	switch status {
	case StatusExited:
		return "stopped outside benchform; it will be started"
	case StatusError:
		return "its container failed (status ERROR); it will be started again"
	}
	return ""
}

// adoptedAttrs are a pod's attributes as RunPod reports them, for a pod
// whose create never returned. args is left out: RunPod's copy holds the
// values that plans hide.
func (p *Provider) adoptedAttrs(ctx context.Context, pod Pod, prior cty.Value) map[string]cty.Value {
	vals := map[string]cty.Value{
		"id":         cty.StringVal(pod.ID),
		"image":      cty.StringVal(pod.Image),
		"ports":      strList(pod.Ports),
		"created_at": cty.StringVal(pod.CreatedAt),
	}
	placement(vals, pod)
	if pod.GPU != nil {
		vals["gpu_type_selected"] = cty.StringVal(pod.GPU.ID)
		cfg := podConfig{gpuCount: max(pod.GPU.Count, 1), cloudType: pod.Cloud}
		if a := attr(prior, "price_per_hour"); a != cty.NilVal && a.Type() == cty.Number {
			cfg.pricePerHour, _ = a.AsBigFloat().Float64()
			cfg.hasPrice = true
		}
		if c := p.cost(ctx, cfg, pod, pod.GPU.ID); !c.IsNull() {
			vals["cost_per_hour"] = c
		}
	}
	return vals
}

// updatePod brings a pod's container in line with the configuration,
// changing only what differs (a change restarts the container), and
// starts the pod when it was stopped or failed.
func (p *Provider) updatePod(ctx context.Context, req providers.UpdateRequest) (providers.State, error) {
	id := req.Prior.ID
	cfg, d := decodePod(req.Config, false)
	if d.err != nil {
		return providers.State{}, fmt.Errorf("runpod: update pod %s: %w", id, d.err)
	}
	pod, err := p.api.GetPod(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && pod.Status == StatusTerminated):
		return providers.State{}, fmt.Errorf("runpod: update pod %s: it no longer exists; plan again to create a new one", id)
	case err != nil:
		return providers.State{}, err
	}
	name := firstNonEmpty(req.Prior.Name, pod.Name)
	key := ""
	if cfg.server != nil {
		key = cfg.server.apiKey
		if key == "" {
			if key, err = p.serverKey(name); err != nil {
				return providers.State{}, err
			}
		}
	}
	c, err := buildContainer(cfg, key)
	if err != nil {
		return providers.State{}, fmt.Errorf("runpod: update pod %s: %w", id, err)
	}
	red := newRedactor(key, c.env)
	if patch, ok := containerPatch(pod, c); ok {
		if pod, err = p.api.UpdatePod(ctx, id, patch); err != nil {
			return providers.State{}, fmt.Errorf("runpod: update pod %s: %s", id, red.clean(err.Error()))
		}
		p.markChanged(id)
		if pod.Status == "" {
			if pod, err = p.api.GetPod(ctx, id); err != nil {
				return providers.State{}, err
			}
		}
	}
	if pod.Status == StatusExited || pod.Status == StatusError {
		if err := p.start(ctx, id); err != nil {
			return providers.State{}, err
		}
		p.markChanged(id)
	}
	p.remember(id, name)

	vals := map[string]cty.Value{
		"id":    cty.StringVal(id),
		"image": cty.StringVal(c.image),
		"args":  cty.StringVal(shownArgs(cfg)),
		"ports": strList(c.ports),
		"gpu_type_selected": cty.StringVal(firstNonEmpty(attrString(req.Prior.Attrs, "gpu_type_selected"), func() string {
			if pod.GPU != nil {
				return pod.GPU.ID
			}
			return ""
		}())),
		"created_at":     cty.StringVal(firstNonEmpty(attrString(req.Prior.Attrs, "created_at"), pod.CreatedAt)),
		"cloud_selected": cty.StringVal(firstNonEmpty(pod.Cloud, attrString(req.Prior.Attrs, "cloud_selected"))),
		"data_center_id": cty.StringVal(firstNonEmpty(pod.DataCenterID, attrString(req.Prior.Attrs, "data_center_id"))),
	}
	switch prior := attr(req.Prior.Attrs, "cost_per_hour"); {
	case cfg.hasPrice:
		vals["cost_per_hour"] = cty.NumberFloatVal(cfg.pricePerHour)
	case prior != cty.NilVal && prior.Type() == cty.Number:
		vals["cost_per_hour"] = prior
	default:
		vals["cost_per_hour"] = p.cost(ctx, cfg, pod, vals["gpu_type_selected"].AsString())
	}
	return providers.State{ID: id, Name: name, Attrs: objectOf(podAttrTypes, vals)}, nil
}

// containerPatch returns the changes that bring pod to c.
func containerPatch(pod Pod, c container) (UpdatePodRequest, bool) {
	var u UpdatePodRequest
	changed := false
	if pod.Image != c.image {
		u.Image, changed = &c.image, true
	}
	if pod.Args != c.args {
		u.Args, changed = &c.args, true
	}
	if !sameSet(pod.Ports, c.ports) {
		u.Ports, changed = c.ports, true
	}
	if envDiffers(pod.Env, c.env) {
		u.Env, changed = c.env, true
	}
	return u, changed
}

// envDiffers compares a pod's environment with the wanted one, ignoring
// variables RunPod adds itself.
func envDiffers(have, want map[string]string) bool {
	for k, v := range want {
		if h, ok := have[k]; !ok || h != v {
			return true
		}
	}
	for k := range have {
		if _, ok := want[k]; !ok && !strings.HasPrefix(k, "RUNPOD_") && k != "PUBLIC_KEY" && k != "JUPYTER_PASSWORD" {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

// start starts a stopped pod. A 409 means the action no longer applies
// (it is starting already, say): the pod is read again to decide.
func (p *Provider) start(ctx context.Context, id string) error {
	err := p.api.PodAction(ctx, id, "start")
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		pod, gerr := p.api.GetPod(ctx, id)
		if gerr == nil && (pod.Status == StatusRunning || pod.Status == StatusStarting || pod.Status == StatusProvisioning) {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("runpod: start pod %s: %w", id, err)
	}
	return nil
}

func (p *Provider) markChanged(id string) {
	p.mu.Lock()
	p.changed[id] = p.s.Now()
	p.mu.Unlock()
}

// deletePod terminates the pod and any twin carrying its unique name, then
// checks that RunPod no longer has it: a pod that is only stopped keeps
// billing for its disk.
func (p *Provider) deletePod(ctx context.Context, prior providers.State) error {
	ids := []string{}
	if prior.ID != "" {
		ids = append(ids, prior.ID)
	}
	if prior.Name != "" {
		pods, err := p.api.ListPods(ctx)
		switch {
		case err != nil && prior.ID == "":
			return fmt.Errorf("runpod: look for pod %s to terminate it: %w", prior.Name, err)
		case err == nil:
			for _, pod := range named(pods, prior.Name) {
				if !containsString(ids, pod.ID) {
					ids = append(ids, pod.ID)
				}
			}
		}
	}
	var errs []error
	for _, id := range ids {
		if err := p.terminate(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Bounds of a terminate: tries while RunPod answers 409, and looks
// afterwards until the pod is gone.
const (
	terminateTries = 4
	goneChecks     = 6
)

func (p *Provider) terminate(ctx context.Context, id string) error {
	for try := 1; ; try++ {
		err := p.api.DeletePod(ctx, id)
		if err == nil {
			break
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusConflict || try >= terminateTries {
			return fmt.Errorf("runpod: terminate pod %s: %w", id, err)
		}
		if err := p.s.Sleep(ctx, p.s.PollInterval); err != nil {
			return fmt.Errorf("runpod: terminate pod %s: %w", id, err)
		}
	}
	status := ""
	for i := 0; i < goneChecks; i++ {
		pod, err := p.api.GetPod(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("runpod: terminate pod %s: check that it is gone: %w", id, err)
		case pod.Status == StatusTerminated:
			return nil
		}
		status = pod.Status
		if err := p.s.Sleep(ctx, p.s.PollInterval); err != nil {
			return fmt.Errorf("runpod: terminate pod %s: %w", id, err)
		}
	}
	return fmt.Errorf("runpod: terminate pod %s: RunPod still lists it (status %s) after terminating it, and it may still bill: run destroy again, or terminate it in RunPod's console", id, status)
}

// planServer checks a server's configuration. Its endpoint is known once
// its pod's id is.
func (p *Provider) planServer(req providers.PlanRequest) (providers.PlanResponse, error) {
	s, d := decodeServer(req.Config, true)
	if d.err != nil {
		return providers.PlanResponse{}, d.err
	}
	vals := map[string]cty.Value{}
	if s.pod.id != "" {
		vals["id"] = cty.StringVal(s.pod.id)
		if !d.unknown["port"] && !d.unknown["engine"] {
			vals["endpoint"] = cty.StringVal(p.s.proxyURL(s.pod.id, s.listenPort()))
		}
	}
	if !d.unknown["model"] && !d.unknown["served_model_name"] && s.model != "" {
		vals["model"] = cty.StringVal(s.servedModel())
	}
	return providers.PlanResponse{Planned: objectOf(serverAttrTypes, vals)}, nil
}

// readServer reports a server as existing while its pod does.
func (p *Provider) readServer(ctx context.Context, prior providers.State) (providers.ReadResponse, error) {
	if prior.ID == "" {
		return providers.ReadResponse{State: prior}, nil
	}
	pod, err := p.api.GetPod(ctx, prior.ID)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && pod.Status == StatusTerminated):
		return providers.ReadResponse{State: prior, Drift: "its pod was terminated outside benchform"}, nil
	case err != nil:
		return providers.ReadResponse{}, err
	}
	p.remember(pod.ID, pod.Name)
	drift := ""
	switch pod.Status {
	case StatusExited:
		drift = "its pod was stopped outside benchform"
	case StatusError:
		drift = "its pod's container failed"
	}
	return providers.ReadResponse{State: prior, Exists: true, Drift: drift}, nil
}

// readyServer waits until the server on its pod answers, then records it.
func (p *Provider) readyServer(ctx context.Context, name string, config cty.Value, progress func(string)) (providers.State, error) {
	s, d := decodeServer(config, false)
	if d.err != nil {
		return providers.State{}, fmt.Errorf("runpod: server: %w", d.err)
	}
	if s.pod.id == "" {
		return providers.State{}, errors.New("runpod: server: its pod has no id yet")
	}
	key, err := p.keyFor(ctx, s)
	if err != nil {
		return providers.State{}, err
	}
	env := map[string]string{}
	for k, v := range s.pod.env {
		env[k] = v
	}
	for k, v := range s.env {
		env[k] = v
	}
	p.mu.Lock()
	since := p.changed[s.pod.id]
	p.mu.Unlock()
	err = p.waitReady(ctx, readiness{
		engine:   s.engine,
		podID:    s.pod.id,
		port:     s.listenPort(),
		model:    s.servedModel(),
		key:      key,
		timeout:  s.readyTimeout,
		since:    since,
		progress: progress,
		red:      newRedactor(key, env),
	})
	if err != nil {
		return providers.State{}, err
	}
	return providers.State{ID: s.pod.id, Name: name, Attrs: cty.ObjectVal(map[string]cty.Value{
		"id":       cty.StringVal(s.pod.id),
		"endpoint": cty.StringVal(p.s.proxyURL(s.pod.id, s.listenPort())),
		"model":    cty.StringVal(s.servedModel()),
	})}, nil
}

// keyFor returns the server's API key: the configured one, else the one
// derived from its pod's unique name.
func (p *Provider) keyFor(ctx context.Context, s serverConfig) (string, error) {
	if s.apiKey != "" {
		return s.apiKey, nil
	}
	p.mu.Lock()
	name := p.names[s.pod.id]
	p.mu.Unlock()
	if name == "" {
		pod, err := p.api.GetPod(ctx, s.pod.id)
		if err != nil {
			return "", fmt.Errorf("runpod: server key: read pod %s: %w", s.pod.id, err)
		}
		name = pod.Name
		p.remember(pod.ID, name)
	}
	return p.serverKey(name)
}

// Connect returns the server's endpoint through RunPod's proxy, with its
// API key.
func (p *Provider) Connect(ctx context.Context, req providers.ConnectRequest) (providers.Endpoint, error) {
	s, d := decodeServer(req.Config, false)
	if d.err != nil {
		return providers.Endpoint{}, fmt.Errorf("runpod: connect: %w", d.err)
	}
	if s.pod.id == "" {
		s.pod.id = req.State.ID
	}
	key, err := p.keyFor(ctx, s)
	if err != nil {
		return providers.Endpoint{}, err
	}
	return providers.Endpoint{BaseURL: p.s.proxyURL(s.pod.id, s.listenPort()), APIKey: key, Model: s.servedModel()}, nil
}

// placement records where RunPod put a pod, which a run's manifest names:
// two runs on different data centres' machines may differ for that alone.
func placement(vals map[string]cty.Value, pod Pod) {
	vals["cloud_selected"] = cty.StringVal(pod.Cloud)
	vals["data_center_id"] = cty.StringVal(pod.DataCenterID)
}
