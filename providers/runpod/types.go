package runpod

import "fmt"

// Pod statuses of REST v2 (observed state, not intent).
const (
	StatusProvisioning = "PROVISIONING"
	StatusStarting     = "STARTING"
	StatusRunning      = "RUNNING"
	StatusExited       = "EXITED"
	StatusError        = "ERROR"
	StatusTerminated   = "TERMINATED"
)

// Pod is a pod as REST v2 returns it. Env holds what the pod was created
// with, secrets included: String and GoString leave it out so that a pod
// printed by mistake leaks nothing, and nothing here stores a Pod.
type Pod struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Image        string            `json:"image"`
	Args         string            `json:"args"`
	Disk         int               `json:"disk"`
	Ports        []string          `json:"ports"`
	Env          map[string]string `json:"env"`
	Status       string            `json:"status"`
	Actions      []string          `json:"actions"`
	GPU          *PodGPU           `json:"gpu"`
	Cloud        string            `json:"cloud"`
	DataCenterID string            `json:"dataCenterId"`
	CUDAVersion  string            `json:"cudaVersion"`
	// Cost is the billed USD per hour; RunPod was seen reporting the
	// running rate for a stopped pod, so it says nothing about billing.
	Cost    float64  `json:"cost"`
	Runtime *Runtime `json:"runtime"`
	// CreatedAt and StartedAt are RFC 3339 times.
	CreatedAt string `json:"createdAt"`
	StartedAt string `json:"startedAt"`
}

// String describes the pod without its environment.
func (p Pod) String() string {
	return fmt.Sprintf("pod %s (%s, %s)", p.ID, p.Name, p.Status)
}

// GoString is String, so that %#v does not print the environment either.
func (p Pod) GoString() string { return p.String() }

// PodGPU is the GPU type and count of a pod.
type PodGPU struct {
	ID    string `json:"id"`
	Count int    `json:"count"`
}

// Runtime is what a running container reports; RunPod sends null until the
// container runs.
type Runtime struct {
	Uptime float64       `json:"uptime"`
	GPUs   []RuntimeGPU  `json:"gpus"`
	Ports  []RuntimePort `json:"ports"`
}

// RuntimeGPU is one GPU's utilisation in percent.
type RuntimeGPU struct {
	Util       float64 `json:"util"`
	MemoryUtil float64 `json:"memoryUtil"`
}

// RuntimePort maps a container port to the outside. HTTP ports carry an
// internal address: reach them through the proxy.
type RuntimePort struct {
	Private int    `json:"private"`
	Public  int    `json:"public"`
	Type    string `json:"type"`
	IP      string `json:"ip"`
}

// CreatePodRequest is the body of POST /v2/pods. RunPod's schema is
// closed: a field it does not know is refused with 422, so only fields it
// documents are here.
type CreatePodRequest struct {
	Name          string            `json:"name"`
	Image         string            `json:"image,omitempty"`
	GPU           *GPURequest       `json:"gpu,omitempty"`
	Cloud         string            `json:"cloud,omitempty"`
	DataCenterIDs []string          `json:"dataCenterIds,omitempty"`
	Args          string            `json:"args,omitempty"`
	Disk          int               `json:"disk,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	Ports         []string          `json:"ports,omitempty"`
	Mounts        *Mounts           `json:"mounts,omitempty"`
}

// GPURequest asks for one GPU type, count of them.
type GPURequest struct {
	ID    string `json:"id"`
	Count int    `json:"count,omitempty"`
}

// Mounts is a pod's volume; nil for none.
type Mounts struct {
	Persistent *PersistentMount `json:"persistent,omitempty"`
}

// PersistentMount is a volume of Size GB at Path, kept across stops.
type PersistentMount struct {
	Size int    `json:"size"`
	Path string `json:"path"`
}

// UpdatePodRequest is the body of PATCH /v2/pods/{id}: only the fields set
// change. Changing any of them restarts the container.
type UpdatePodRequest struct {
	Image *string           `json:"image,omitempty"`
	Args  *string           `json:"args,omitempty"`
	Env   map[string]string `json:"env,omitempty"`
	Ports []string          `json:"ports,omitempty"`
}

// GPUType is an entry of the GPU catalog. Prices are USD per GPU per hour.
type GPUType struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Pool         string   `json:"pool"`
	Manufacturer string   `json:"manufacturer"`
	MemoryGB     float64  `json:"memory"`
	Secure       bool     `json:"secure"`
	Community    bool     `json:"community"`
	Price        GPUPrice `json:"price"`
	MaxCount     GPUCount `json:"maxCount"`
	Availability string   `json:"availability"`
}

// GPUPrice is a GPU's hourly price on each cloud.
type GPUPrice struct {
	Secure    float64 `json:"secure"`
	Community float64 `json:"community"`
}

// GPUCount is the most GPUs of a type one pod may have on each cloud.
type GPUCount struct {
	Secure    int `json:"secure"`
	Community int `json:"community"`
}

// offered reports whether the type is rented on the cloud, and its price.
func (g GPUType) offered(cloud string) (price float64, maxCount int, ok bool) {
	if cloud == "COMMUNITY" {
		return g.Price.Community, g.MaxCount.Community, g.Community
	}
	return g.Price.Secure, g.MaxCount.Secure, g.Secure
}
