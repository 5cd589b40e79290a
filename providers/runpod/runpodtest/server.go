package runpodtest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. The zero value is a usable fake with the
// default catalog, real time and no upstream servers.
type Options struct {
	// APIKey is the key requests must carry as a bearer token; "" accepts
	// any non-empty key. The fake keeps it only to compare.
	APIKey string
	// Now is the clock of pod lifecycles; default time.Now. Share a Clock
	// with the code under test to run lifecycles in no real time.
	Now func() time.Time
	// GPUs is the catalog; default DefaultGPUs().
	GPUs []GPU
	// ProvisionFor is how long a container is PROVISIONING after it is
	// (re)started; default 0, as RunPod was seen reporting RUNNING at once.
	ProvisionFor time.Duration
	// RuntimeAfter is how long runtime stays null after provisioning,
	// while the status already says RUNNING; default 30s.
	RuntimeAfter time.Duration
	// Upstream returns what listens on a container port of a pod, for the
	// proxy; it is asked once per container start and port. Nil, or a nil
	// handler, leaves the port unanswered: the proxy says 502, as RunPod's
	// does until something listens.
	Upstream func(pod Pod, port int) http.Handler
	// Seed seeds the draws of injected faults.
	Seed uint64
	// AllowDefaultUserAgent accepts requests with Go's default
	// User-Agent, which the fake, like RunPod's Cloudflare front, refuses
	// with 403 (error 1010) unless this is set.
	AllowDefaultUserAgent bool
}

// Faults are failures the fake injects. Counts are used up as they fire.
type Faults struct {
	// Share500 and Share429 are the shares of API requests answered 500,
	// and 429 with Retry-After, before they do anything.
	Share500 float64
	Share429 float64
	// RetryAfter is the Retry-After of injected 429s, in seconds; 0 means 1.
	RetryAfter int
	// CreateOK500 creates the pod for the next creates and answers 500
	// all the same.
	CreateOK500 int
	// Create500 answers the next creates 500 without creating anything.
	Create500 int
	// NoCapacity lists GPU type ids every create is refused for, with
	// RunPod's 400 "no longer any instances available".
	NoCapacity []string
	// RefuseFirst refuses the next creates for capacity whatever the type.
	RefuseFirst int
	// Latency delays every API answer (in real time).
	Latency time.Duration
	// ListLag hides a new pod from GET /v2/pods for this long after its
	// creation, as RunPod's lists lag behind creates.
	ListLag time.Duration
	// Status, when set, answers every API request with it (401, 402, 403,
	// 410, ...).
	Status int
}

// GPU is a catalog entry, in RunPod's wire format.
type GPU struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Pool         string   `json:"pool"`
	Manufacturer string   `json:"manufacturer"`
	Memory       int      `json:"memory"`
	Secure       bool     `json:"secure"`
	Community    bool     `json:"community"`
	Price        GPUPrice `json:"price"`
	MaxCount     GPUCount `json:"maxCount"`
	Availability string   `json:"availability"`
}

// GPUPrice is USD per GPU per hour.
type GPUPrice struct {
	Secure     float64 `json:"secure"`
	Community  float64 `json:"community"`
	Serverless float64 `json:"serverless,omitempty"`
}

// GPUCount is the most GPUs of a type per pod.
type GPUCount struct {
	Secure    int `json:"secure"`
	Community int `json:"community"`
}

// DefaultGPUs is a small catalog with realistic ids, memory and prices.
func DefaultGPUs() []GPU {
	g := func(id, name string, mem int, secure, community float64) GPU {
		return GPU{ID: id, Name: name, Manufacturer: "NVIDIA", Memory: mem, Secure: secure > 0, Community: community > 0,
			Price: GPUPrice{Secure: secure, Community: community}, MaxCount: GPUCount{Secure: 8, Community: 8}, Availability: "HIGH"}
	}
	return []GPU{
		g("NVIDIA H100 80GB HBM3", "H100 SXM", 80, 2.69, 0),
		g("NVIDIA H100 PCIe", "H100 PCIe", 80, 2.39, 1.99),
		g("NVIDIA H100 NVL", "H100 NVL", 94, 2.59, 0),
		g("NVIDIA H200", "H200 SXM", 141, 3.59, 0),
		g("NVIDIA A100-SXM4-80GB", "A100 SXM", 80, 1.49, 1.19),
		g("NVIDIA L40S", "L40S", 48, 0.86, 0.79),
		g("NVIDIA GeForce RTX 4090", "RTX 4090", 24, 0.69, 0.34),
	}
}

// Pod is a snapshot of a pod the fake holds.
type Pod struct {
	ID    string
	Name  string
	Image string
	Args  string
	// Argv is Args as RunPod splits it for the image's ENTRYPOINT.
	Argv          []string
	Env           map[string]string
	Ports         []string
	GPUID         string
	GPUCount      int
	Cloud         string
	DataCenterIDs []string
	Disk          int
	VolumeGB      int
	// Status is the v2 status at the time of the snapshot.
	Status    string
	CreatedAt time.Time
	StartedAt time.Time
	// TerminatedAt is when the pod was terminated, zero until then.
	TerminatedAt time.Time
	// Starts counts the container's starts: creation, restarts, changes.
	Starts int
}

// Request is one request the fake answered: never its headers or body.
type Request struct {
	Method string
	Path   string
	Status int
}

// Server is a fake of RunPod's REST v2 API (pods, actions, logs, GPU
// catalog) and of its HTTP proxy, on one loopback port. It is safe for
// concurrent use.
type Server struct {
	ts   *httptest.Server
	opts Options

	mu       sync.Mutex
	pods     map[string]*pod
	order    []string // ids in creation order
	faults   Faults
	rnd      *rand.Rand
	requests []Request
	nextPort int
}

// pod is the fake's record of one pod.
type pod struct {
	Pod
	state     string // running | exited | error | terminated
	util      []runtimeGPU
	logs      []string
	public    map[int]int // container port → public port, per start
	upstreams map[int]http.Handler
}

type runtimeGPU struct {
	Util       float64 `json:"util"`
	MemoryUtil float64 `json:"memoryUtil"`
}

// New starts a fake; Close stops it.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.GPUs == nil {
		opts.GPUs = DefaultGPUs()
	}
	if opts.RuntimeAfter == 0 {
		opts.RuntimeAfter = 30 * time.Second
	}
	s := &Server{opts: opts, pods: map[string]*pod{}, rnd: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)), nextPort: 40000}
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/", s.api)
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, http.StatusGone, "REST v1 was retired on 2026-11-15; use REST v2", nil)
	})
	mux.HandleFunc("/proxy/", s.proxy)
	s.ts = httptest.NewServer(mux)
	return s
}

// Close stops the fake.
func (s *Server) Close() { s.ts.Close() }

// URL is the fake's base URL, the REST URL of Settings (paths start /v2).
func (s *Server) URL() string { return s.ts.URL }

// ProxyURL is the proxy template, with {podId} and {port}.
func (s *Server) ProxyURL() string { return s.ts.URL + "/proxy/{podId}-{port}" }

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Pods returns the pods that are not terminated, oldest first.
func (s *Server) Pods() []Pod {
	return s.snapshot(false)
}

// AllPods returns every pod ever created, terminated ones included.
func (s *Server) AllPods() []Pod {
	return s.snapshot(true)
}

func (s *Server) snapshot(all bool) []Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	var out []Pod
	for _, id := range s.order {
		p := s.pods[id]
		if !all && p.state == "terminated" {
			continue
		}
		out = append(out, s.view(p, now))
	}
	return out
}

// Requests returns the requests answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns how many requests had the method and a path starting with
// prefix.
func (s *Server) Count(method, prefix string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

// Terminate terminates a pod behind its owner's back.
func (s *Server) Terminate(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pods[id]; p != nil {
		p.state, p.TerminatedAt = "terminated", s.opts.Now()
	}
}

// Stop stops a pod behind its owner's back (EXITED).
func (s *Server) Stop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pods[id]; p != nil && p.state != "terminated" {
		p.state = "exited"
	}
}

// Fail makes a pod's container fail (ERROR), adding lines to its log.
func (s *Server) Fail(id string, lines ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pods[id]; p != nil && p.state != "terminated" {
		p.state = "error"
		p.logs = append(p.logs, lines...)
	}
}

// Log adds lines to a pod's container log.
func (s *Server) Log(id string, lines ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pods[id]; p != nil {
		p.logs = append(p.logs, lines...)
	}
}

// SetGPUUtil sets what runtime.gpus reports for every GPU of a pod.
func (s *Server) SetGPUUtil(id string, util, memoryUtil float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pods[id]; p != nil {
		p.util = nil
		for i := 0; i < max(p.GPUCount, 1); i++ {
			p.util = append(p.util, runtimeGPU{Util: util, MemoryUtil: memoryUtil})
		}
	}
}

// status is the v2 status of a pod now, and whether its runtime is up.
func (s *Server) status(p *pod, now time.Time) (string, bool) {
	switch p.state {
	case "exited":
		return "EXITED", false
	case "error":
		return "ERROR", false
	case "terminated":
		return "TERMINATED", false
	}
	up := now.Sub(p.StartedAt)
	if up < s.opts.ProvisionFor {
		return "PROVISIONING", false
	}
	return "RUNNING", up >= s.opts.ProvisionFor+s.opts.RuntimeAfter
}

func (s *Server) view(p *pod, now time.Time) Pod {
	v := p.Pod
	v.Status, _ = s.status(p, now)
	v.Env = map[string]string{}
	for k, val := range p.Env {
		v.Env[k] = val
	}
	v.Ports = append([]string(nil), p.Ports...)
	v.Argv = append([]string(nil), p.Argv...)
	return v
}

// wire is the pod as REST v2 answers it.
func (s *Server) wire(p *pod, now time.Time) map[string]any {
	status, up := s.status(p, now)
	var runtime any
	if up {
		var ports []map[string]any
		for _, spec := range p.Ports {
			port, kind := splitPort(spec)
			ip := "203.0.113.7"
			if kind == "http" {
				ip = "100.65.14.155"
			}
			ports = append(ports, map[string]any{"private": port, "public": p.public[port], "type": kind, "ip": ip})
		}
		gpus := p.util
		if gpus == nil {
			gpus = make([]runtimeGPU, max(p.GPUCount, 1))
		}
		runtime = map[string]any{
			"uptime": int(now.Sub(p.StartedAt).Seconds()), "gpus": gpus,
			"cpu": map[string]any{"util": 3}, "memory": map[string]any{"util": 10}, "ports": ports,
		}
	}
	actions := map[string][]string{
		"RUNNING": {"stop", "restart", "terminate"}, "PROVISIONING": {"stop", "terminate"}, "STARTING": {"stop", "terminate"},
		"EXITED": {"start", "terminate"}, "ERROR": {"start", "terminate"},
	}[status]
	var mounts any
	if p.VolumeGB > 0 {
		mounts = map[string]any{"persistent": map[string]any{"size": p.VolumeGB, "path": "/workspace"}}
	}
	return map[string]any{
		"id": p.ID, "name": p.Name, "image": p.Image, "args": p.Args, "disk": p.Disk,
		"ports": p.Ports, "env": p.Env, "registry": nil, "status": status, "actions": actions,
		"mounts": mounts, "gpu": map[string]any{"id": p.GPUID, "count": p.GPUCount}, "cloud": p.Cloud,
		"dataCenterId": "US-KS-2", "cudaVersion": "12.8",
		"ssh":      map[string]any{"proxy": map[string]any{"host": "ssh.runpod.io", "port": 22, "username": p.ID + "-64411eb2"}, "direct": nil},
		"template": nil, "cost": s.price(p.GPUID, p.Cloud) * float64(p.GPUCount), "locked": false,
		"globalNetworking": map[string]any{"enabled": false}, "runtime": runtime,
		"createdAt": p.CreatedAt.UTC().Format(time.RFC3339Nano), "startedAt": p.StartedAt.UTC().Format(time.RFC3339Nano),
	}
}

func (s *Server) price(id, cloud string) float64 {
	for _, g := range s.opts.GPUs {
		if g.ID == id {
			if cloud == "COMMUNITY" {
				return g.Price.Community
			}
			return g.Price.Secure
		}
	}
	return 0
}

func splitPort(spec string) (int, string) {
	n, kind, _ := strings.Cut(spec, "/")
	port, _ := strconv.Atoi(n)
	return port, kind
}

// record logs a request; callers hold no lock.
func (s *Server) record(r *http.Request, status int) {
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: status})
	s.mu.Unlock()
}

// problem answers with RunPod's problem document.
func (s *Server) problem(w http.ResponseWriter, r *http.Request, status int, detail string, errs []string) {
	body := map[string]any{"title": http.StatusText(status), "status": status, "detail": detail}
	if errs != nil {
		body["errors"] = errs
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
	s.record(r, status)
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("RateLimit", `"minute";r=59;t=60, "hour";r=2999;t=3600, "day";r=49999;t=86400`)
	w.Header().Set("RateLimit-Policy", `"minute";q=60;w=60, "hour";q=3000;w=3600, "day";q=50000;w=86400`)
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
	s.record(r, status)
}

// api serves /v2/.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			return
		}
	}
	ua := r.Header.Get("User-Agent")
	if !s.opts.AllowDefaultUserAgent && (ua == "" || strings.HasPrefix(ua, "Go-http-client")) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("<html><body>error code: 1010</body></html>"))
		s.record(r, http.StatusForbidden)
		return
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || got == "" || (s.opts.APIKey != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.APIKey)) != 1) {
		s.problem(w, r, http.StatusUnauthorized, "Invalid or missing API key.", nil)
		return
	}
	if f.Status != 0 {
		s.problem(w, r, f.Status, "injected failure", nil)
		return
	}
	s.mu.Lock()
	draw := s.rnd.Float64()
	s.mu.Unlock()
	switch {
	case draw < f.Share500:
		s.problem(w, r, http.StatusInternalServerError, "Something went wrong.", nil)
		return
	case draw < f.Share500+f.Share429:
		w.Header().Set("Retry-After", strconv.Itoa(max(f.RetryAfter, 1)))
		w.Header().Set("RateLimit", `"minute";r=0;t=`+strconv.Itoa(max(f.RetryAfter, 1)))
		s.problem(w, r, http.StatusTooManyRequests, "Rate limit exceeded for window \"minute\".", nil)
		return
	}

	path := strings.TrimPrefix(r.URL.Path, "/v2/")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case path == "pods" && r.Method == http.MethodPost:
		s.create(w, r)
	case path == "pods" && r.Method == http.MethodGet:
		s.list(w, r)
	case len(parts) == 2 && parts[0] == "pods" && r.Method == http.MethodGet:
		s.get(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "pods" && r.Method == http.MethodPatch:
		s.patch(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "pods" && r.Method == http.MethodDelete:
		s.action(w, r, parts[1], "terminate")
	case len(parts) == 3 && parts[0] == "pods" && parts[2] == "action" && r.Method == http.MethodPost:
		var body struct {
			Action string `json:"action"`
		}
		if err := strictDecode(r, &body); err != nil {
			s.problem(w, r, http.StatusUnprocessableEntity, "Request validation failed.", []string{err.Error()})
			return
		}
		s.action(w, r, parts[1], body.Action)
	case len(parts) == 3 && parts[0] == "pods" && parts[2] == "logs" && r.Method == http.MethodGet:
		s.logs(w, r, parts[1])
	case path == "catalog/gpus" && r.Method == http.MethodGet:
		s.catalog(w, r)
	default:
		s.problem(w, r, http.StatusNotFound, "No such endpoint.", nil)
	}
}

// createBody is CreatePodRequest: closed, as RunPod's schema is.
type createBody struct {
	Name       *string `json:"name"`
	Image      string  `json:"image"`
	TemplateID string  `json:"templateId"`
	GPU        *struct {
		ID                  string   `json:"id"`
		Count               *int     `json:"count"`
		AllowedCudaVersions []string `json:"allowedCudaVersions"`
		MinCudaVersion      string   `json:"minCudaVersion"`
	} `json:"gpu"`
	CPU *struct {
		ID        string `json:"id"`
		VCPUCount int    `json:"vcpuCount"`
	} `json:"cpu"`
	Cloud         string            `json:"cloud"`
	DataCenterIDs []string          `json:"dataCenterIds"`
	Args          string            `json:"args"`
	Disk          *int              `json:"disk"`
	Env           map[string]string `json:"env"`
	Ports         []string          `json:"ports"`
	Mounts        *struct {
		Persistent *struct {
			Size int    `json:"size"`
			Path string `json:"path"`
		} `json:"persistent"`
		Network []struct {
			VolumeID string `json:"volumeId"`
			Path     string `json:"path"`
		} `json:"network"`
	} `json:"mounts"`
	Registry         *string `json:"registry"`
	GlobalNetworking *bool   `json:"globalNetworking"`
	StartJupyter     *bool   `json:"startJupyter"`
	StartSSH         *bool   `json:"startSsh"`
}

func strictDecode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fmt.Errorf("$: additional properties %s not allowed", strings.ReplaceAll(f, `"`, "'"))
		}
		return fmt.Errorf("$: %v", err)
	}
	return nil
}

const noCapacity = "There are no longer any instances available with the requested specifications. Please refresh and try again."

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var b createBody
	if err := strictDecode(r, &b); err != nil {
		s.problem(w, r, http.StatusUnprocessableEntity, "Request validation failed.", []string{err.Error()})
		return
	}
	var errs []string
	if b.Name == nil || *b.Name == "" {
		errs = append(errs, "$: missing property 'name'")
	}
	if b.Image == "" && b.TemplateID == "" {
		errs = append(errs, "$: missing property 'image'")
	}
	if b.Disk != nil && *b.Disk < 1 {
		errs = append(errs, "$.disk: must be >= 1")
	}
	if b.GPU != nil && b.GPU.Count != nil && *b.GPU.Count < 1 {
		errs = append(errs, "$.gpu.count: must be >= 1")
	}
	if b.Cloud != "" && b.Cloud != "SECURE" && b.Cloud != "COMMUNITY" {
		errs = append(errs, "$.cloud: value must be one of 'SECURE', 'COMMUNITY'")
	}
	for _, p := range b.Ports {
		if n, kind := splitPort(p); n < 1 || n > 65535 || (kind != "http" && kind != "tcp") {
			errs = append(errs, "$.ports: invalid port "+strconv.Quote(p))
		}
	}
	if b.Mounts != nil && b.Mounts.Persistent != nil && b.Mounts.Persistent.Size < 10 {
		errs = append(errs, "$.mounts.persistent.size: must be >= 10")
	}
	if len(errs) > 0 {
		s.problem(w, r, http.StatusUnprocessableEntity, "Request validation failed.", errs)
		return
	}
	switch {
	case (b.GPU == nil) == (b.CPU == nil):
		s.problem(w, r, http.StatusBadRequest, "Exactly one of gpu and cpu must be set.", nil)
		return
	case b.Mounts != nil && b.Mounts.Persistent != nil && b.Mounts.Network != nil:
		s.problem(w, r, http.StatusBadRequest, "mounts.persistent and mounts.network are mutually exclusive.", nil)
		return
	case b.CPU != nil:
		s.problem(w, r, http.StatusBadRequest, "The fake rents GPU pods only.", nil)
		return
	}
	argv, err := SplitArgs(b.Args)
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, "args: "+err.Error(), nil)
		return
	}
	cloud := b.Cloud
	if cloud == "" {
		cloud = "SECURE"
	}
	count := 1
	if b.GPU.Count != nil {
		count = *b.GPU.Count
	}

	status, detail, body := s.createLocked(b, argv, cloud, count)
	if body == nil {
		s.problem(w, r, status, detail, nil)
		return
	}
	s.reply(w, r, status, body)
}

// createLocked decides a create under the lock: the status to answer, the
// detail of a failure, or the created pod's body.
func (s *Server) createLocked(b createBody, argv []string, cloud string, count int) (int, string, map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gpu *GPU
	for i := range s.opts.GPUs {
		if s.opts.GPUs[i].ID == b.GPU.ID {
			gpu = &s.opts.GPUs[i]
		}
	}
	if gpu == nil {
		return http.StatusBadRequest, fmt.Sprintf("GPU type %q does not exist.", b.GPU.ID), nil
	}
	offered := (cloud == "SECURE" && gpu.Secure) || (cloud == "COMMUNITY" && gpu.Community)
	refuse := !offered || contains(s.faults.NoCapacity, b.GPU.ID)
	if s.faults.RefuseFirst > 0 {
		s.faults.RefuseFirst--
		refuse = true
	}
	if refuse {
		return http.StatusBadRequest, noCapacity, nil
	}
	if s.faults.Create500 > 0 {
		s.faults.Create500--
		return http.StatusInternalServerError, "Something went wrong.", nil
	}
	now := s.opts.Now()
	p := &pod{Pod: Pod{
		ID: s.newID(), Name: *b.Name, Image: b.Image, Args: b.Args, Argv: argv, Env: b.Env, Ports: b.Ports,
		GPUID: b.GPU.ID, GPUCount: count, Cloud: cloud, DataCenterIDs: b.DataCenterIDs, Disk: 50,
		CreatedAt: now,
	}, state: "running"}
	if b.Disk != nil {
		p.Disk = *b.Disk
	}
	if b.Mounts != nil && b.Mounts.Persistent != nil {
		p.VolumeGB = b.Mounts.Persistent.Size
	}
	s.startContainer(p, now)
	s.pods[p.ID] = p
	s.order = append(s.order, p.ID)
	if s.faults.CreateOK500 > 0 {
		s.faults.CreateOK500--
		return http.StatusInternalServerError, "Something went wrong.", nil
	}
	return http.StatusCreated, "", s.wire(p, now)
}

// startContainer (re)starts a pod's container: new public ports, new
// upstream servers. Callers hold s.mu.
func (s *Server) startContainer(p *pod, now time.Time) {
	p.state = "running"
	p.StartedAt = now
	p.Starts++
	p.public = map[int]int{}
	for _, spec := range p.Ports {
		port, _ := splitPort(spec)
		s.nextPort++
		p.public[port] = s.nextPort
	}
	p.upstreams = nil
	p.logs = append(p.logs, fmt.Sprintf("start container %d: %s", p.Starts, p.Image))
}

func (s *Server) newID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	for {
		b := make([]byte, 14)
		for i := range b {
			b[i] = alphabet[s.rnd.IntN(len(alphabet))]
		}
		if _, taken := s.pods[string(b)]; !taken {
			return string(b)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	now := s.opts.Now()
	pods := []map[string]any{}
	for _, id := range s.order {
		p := s.pods[id]
		if p.state == "terminated" || now.Sub(p.CreatedAt) < s.faults.ListLag {
			continue
		}
		pods = append(pods, s.wire(p, now))
	}
	s.mu.Unlock()
	s.reply(w, r, http.StatusOK, map[string]any{"pods": pods})
}

// live returns a pod that exists; callers hold s.mu.
func (s *Server) live(id string) *pod {
	p := s.pods[id]
	if p == nil || p.state == "terminated" {
		return nil
	}
	return p
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	p := s.live(id)
	if p == nil {
		s.mu.Unlock()
		s.problem(w, r, http.StatusNotFound, "Pod not found.", nil)
		return
	}
	body := s.wire(p, s.opts.Now())
	s.mu.Unlock()
	s.reply(w, r, http.StatusOK, body)
}

type patchBody struct {
	Name             *string           `json:"name"`
	Image            *string           `json:"image"`
	Args             *string           `json:"args"`
	Disk             *int              `json:"disk"`
	Ports            []string          `json:"ports"`
	Env              map[string]string `json:"env"`
	Registry         *string           `json:"registry"`
	Locked           *bool             `json:"locked"`
	GlobalNetworking *bool             `json:"globalNetworking"`
	Mounts           json.RawMessage   `json:"mounts"`
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, id string) {
	var b patchBody
	if err := strictDecode(r, &b); err != nil {
		s.problem(w, r, http.StatusUnprocessableEntity, "Request validation failed.", []string{err.Error()})
		return
	}
	var argv []string
	if b.Args != nil {
		var err error
		if argv, err = SplitArgs(*b.Args); err != nil {
			s.problem(w, r, http.StatusBadRequest, "args: "+err.Error(), nil)
			return
		}
	}
	s.mu.Lock()
	p := s.live(id)
	if p == nil {
		s.mu.Unlock()
		s.problem(w, r, http.StatusNotFound, "Pod not found.", nil)
		return
	}
	container := false
	if b.Name != nil {
		p.Name = *b.Name
	}
	if b.Image != nil {
		p.Image, container = *b.Image, true
	}
	if b.Args != nil {
		p.Args, p.Argv, container = *b.Args, argv, true
	}
	if b.Ports != nil {
		p.Ports, container = b.Ports, true
	}
	if b.Env != nil {
		p.Env, container = b.Env, true
	}
	if b.Disk != nil {
		p.Disk, container = *b.Disk, true
	}
	now := s.opts.Now()
	// A container change restarts a running pod; a stopped one picks it
	// up at its next start.
	if container && p.state == "running" {
		s.startContainer(p, now)
	}
	body := s.wire(p, now)
	s.mu.Unlock()
	s.reply(w, r, http.StatusOK, body)
}

func (s *Server) action(w http.ResponseWriter, r *http.Request, id, action string) {
	s.mu.Lock()
	p := s.live(id)
	if p == nil {
		s.mu.Unlock()
		s.problem(w, r, http.StatusNotFound, "Pod not found.", nil)
		return
	}
	if !contains([]string{"start", "stop", "restart", "terminate"}, action) {
		s.mu.Unlock()
		s.problem(w, r, http.StatusUnprocessableEntity, "Request validation failed.", []string{"$.action: value must be one of 'start', 'stop', 'restart', 'terminate'"})
		return
	}
	now := s.opts.Now()
	status, _ := s.status(p, now)
	allowed := s.wire(p, now)["actions"].([]string)
	if !contains(allowed, action) {
		s.mu.Unlock()
		s.problem(w, r, http.StatusConflict, fmt.Sprintf("Action %q is not valid for a pod in status %s.", action, status), nil)
		return
	}
	switch action {
	case "start", "restart":
		s.startContainer(p, now)
	case "stop":
		p.state = "exited"
	case "terminate":
		p.state, p.TerminatedAt = "terminated", now
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		s.record(r, http.StatusNoContent)
		return
	}
	body := s.wire(p, now)
	s.mu.Unlock()
	s.reply(w, r, http.StatusOK, body)
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request, id string) {
	tail := 100
	if v := r.URL.Query().Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5000 {
			s.problem(w, r, http.StatusUnprocessableEntity, "Request validation failed.", []string{"$.tail: must be from 1 to 5000"})
			return
		}
		tail = n
	}
	s.mu.Lock()
	p := s.pods[id]
	if p == nil {
		s.mu.Unlock()
		s.problem(w, r, http.StatusNotFound, "Pod not found.", nil)
		return
	}
	lines := p.logs
	if len(lines) > tail {
		lines = lines[len(lines)-tail:]
	}
	lines = append([]string(nil), lines...)
	now := s.opts.Now()
	s.mu.Unlock()
	var buf bytes.Buffer
	for _, l := range lines {
		ev, _ := json.Marshal(map[string]string{"ts": now.UTC().Format(time.RFC3339), "source": "container", "line": l})
		fmt.Fprintf(&buf, "data: %s\n\n", ev)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	s.record(r, http.StatusOK)
}

func (s *Server) catalog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("include") == "" {
		for _, k := range []string{"count", "cloud", "countryCodes", "cudaVersions", "minCudaVersion"} {
			if q.Has(k) {
				s.problem(w, r, http.StatusBadRequest, k+" is only valid with include=AVAILABILITY.", nil)
				return
			}
		}
	} else if q.Get("product") == "" {
		s.problem(w, r, http.StatusBadRequest, "include=AVAILABILITY requires product.", nil)
		return
	}
	gpus := append([]GPU(nil), s.opts.GPUs...)
	sort.Slice(gpus, func(i, j int) bool { return gpus[i].ID < gpus[j].ID })
	s.reply(w, r, http.StatusOK, map[string]any{"gpus": gpus})
}

// proxy serves /proxy/{podId}-{port}/..., as RunPod's HTTP proxy does
// https://{podId}-{port}.proxy.runpod.net/...: public, no API key, 502 until
// something listens on the port.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/proxy/")
	host, path, _ := strings.Cut(rest, "/")
	dash := strings.LastIndexByte(host, '-')
	port, err := strconv.Atoi(host[dash+1:])
	if dash < 0 || err != nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		s.record(r, http.StatusNotFound)
		return
	}
	id := host[:dash]
	h := s.upstream(id, port)
	if h == nil {
		http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
		s.record(r, http.StatusBadGateway)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + path
	r2.URL.RawPath = ""
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	h.ServeHTTP(rec, r2)
	s.record(r, rec.status)
}

// upstream returns the handler listening on a pod's port, asking
// Options.Upstream once per container start; nil when nothing listens.
func (s *Server) upstream(id string, port int) http.Handler {
	s.mu.Lock()
	p := s.live(id)
	if p == nil {
		s.mu.Unlock()
		return nil
	}
	_, up := s.status(p, s.opts.Now())
	if !up || !contains(p.Ports, strconv.Itoa(port)+"/http") {
		s.mu.Unlock()
		return nil
	}
	if h := p.upstreams[port]; h != nil || s.opts.Upstream == nil {
		s.mu.Unlock()
		return h
	}
	snap := s.view(p, s.opts.Now())
	s.mu.Unlock()
	// Asked without the lock: the callback may inspect the fake.
	h := s.opts.Upstream(snap, port)
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Starts != snap.Starts {
		return nil // restarted meanwhile: the next request asks again
	}
	if p.upstreams == nil {
		p.upstreams = map[int]http.Handler{}
	}
	if prior := p.upstreams[port]; prior != nil {
		return prior
	}
	p.upstreams[port] = h
	return h
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Flush lets streamed answers through the proxy as they are written.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
