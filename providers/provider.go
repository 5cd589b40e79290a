// Package providers is the contract between the executor and the code that
// manages real things: pods that cost money, servers that answer requests.
//
// One implementation lives in each sub-package, named as users write it in
// configuration (simulated, openai, and later runpod and local). Requests and
// responses carry configuration as cty values so that a provider decodes only
// the attributes it understands; sensitive values arrive unmarked and must never
// be copied into a State or an error.
package providers

import (
	"context"
	"errors"

	"github.com/zclconf/go-cty/cty"
)

// Provider manages the resources of one kind of infrastructure. The executor
// commits an intent to state before every call that has an effect (Create,
// Update, Delete) and the result right after, so an implementation must make
// each call safe to repeat after a crash: Read with a State whose ID is empty
// must find a half-created object by its Name.
type Provider interface {
	// Plan checks a configuration and says which attributes force
	// replacement when they change. It must not have effects.
	Plan(ctx context.Context, req PlanRequest) (PlanResponse, error)

	// Create makes the object described by req.Config under req.Name.
	Create(ctx context.Context, req CreateRequest) (State, error)

	// Read refreshes a stored object. A missing object is reported with
	// ReadResponse.Exists false, not as an error.
	Read(ctx context.Context, req ReadRequest) (ReadResponse, error)

	// Update changes an existing object in place.
	Update(ctx context.Context, req UpdateRequest) (State, error)

	// Delete removes an object. Deleting one that is already gone succeeds.
	Delete(ctx context.Context, req DeleteRequest) error

	// Connect returns an endpoint a workload can send requests to, valid
	// until Endpoint.Release is called.
	Connect(ctx context.Context, req ConnectRequest) (Endpoint, error)
}

// Kind is the block type of a resource a provider manages.
type Kind string

// Resource kinds.
const (
	KindPod    Kind = "pod"
	KindServer Kind = "server"
)

// State is what a provider knows about an object it manages. It is stored in
// the state file as is, so it holds no secret.
type State struct {
	// ID is the provider's own identifier (a pod id, a process id), empty
	// until the object exists.
	ID string
	// Name is the unique name the object was created under; it is chosen
	// and stored before Create so that an interrupted create can be found.
	Name string
	// Attrs holds the attributes that configuration may reference and plans
	// show, as a cty object.
	Attrs cty.Value
}

// PlanRequest asks a provider to check a configuration.
type PlanRequest struct {
	Addr   string
	Kind   Kind
	Config cty.Value // unknown where it depends on values known only after apply
	Prior  *State    // nil when the object is not in state
}

// PlanResponse is a provider's view of a planned change.
type PlanResponse struct {
	// Planned is the object's attributes after apply, with values the
	// provider will only learn then left unknown.
	Planned cty.Value
	// RequiresReplace names the top-level attributes whose change cannot be
	// made in place.
	RequiresReplace []string
}

// CreateRequest asks a provider to create an object.
type CreateRequest struct {
	Addr   string
	Kind   Kind
	Name   string
	Config cty.Value
	// Progress receives short lines about a long wait ("pod abc:
	// RUNNING, /health 503, 2m10s"); nil means nobody listens.
	Progress func(msg string)
}

// ReadRequest asks a provider to refresh a stored object. It carries no
// configuration: a refresh must work from state alone, as destroy does once
// the configuration is gone.
type ReadRequest struct {
	Addr  string
	Kind  Kind
	Prior State
}

// ReadResponse is the refreshed view of an object.
type ReadResponse struct {
	State  State
	Exists bool
	// Drift says why the object differs from what was stored, when it does,
	// so that a plan can explain itself ("terminated outside benchform").
	Drift string
}

// UpdateRequest asks a provider to change an object in place.
type UpdateRequest struct {
	Addr     string
	Kind     Kind
	Prior    State
	Config   cty.Value
	Progress func(msg string) // as in CreateRequest
}

// DeleteRequest asks a provider to remove an object.
type DeleteRequest struct {
	Addr  string
	Kind  Kind
	Prior State
}

// ConnectRequest asks for an endpoint of a server.
type ConnectRequest struct {
	Addr   string
	State  State
	Config cty.Value
}

// Endpoint is an OpenAI-compatible server a workload can use.
type Endpoint struct {
	BaseURL string // scheme, host and port, without /v1
	APIKey  string // sent as a bearer token when not empty
	Model   string // the model name requests carry
	// Release ends the caller's use of the endpoint; a provider may stop
	// what it started for it. Nil means there is nothing to release.
	Release func()
}

// Configuration shapes. A provider receives a block's evaluated
// configuration as a cty object with every argument of the block (null when
// not set) and these additions made by the executor:
//
//   - a pod's Config has "server": the configuration of the server placed
//     on it (an object with the server block's arguments and "engine"), or
//     null when none is; a pod's container runs that server.
//   - a server's Config has "pod": the object of the pod it is placed on
//     (the pod's arguments and computed attributes, "id" among them), or
//     null for a server that is not on a pod.

// GPUQuerier is implemented by providers that can run nvidia-smi where a
// server runs, for GPU telemetry.
type GPUQuerier interface {
	// QueryGPU runs `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits`
	// once on the machine of the server in req and returns its output.
	QueryGPU(ctx context.Context, req GPURequest) ([]byte, error)
}

// GPURequest names the server whose GPUs are queried and the fields.
type GPURequest struct {
	Addr   string
	State  State
	Config cty.Value
	Fields []string
}

// ErrNotSupported is returned by a provider for an operation that the kind of
// object it manages does not have (updating an endpoint it only reads, say).
var ErrNotSupported = errors.New("not supported by this provider")
