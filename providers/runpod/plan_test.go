package runpod

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/providers/runpod/runpodtest"
)

func TestPlanPod(t *testing.T) {
	h := newHarness(t, runpodtest.Options{})
	vllmArgs := "Qwen/Qwen2.5-7B-Instruct --host 0.0.0.0 --port 8000"
	tests := []struct {
		name    string
		set     map[string]cty.Value
		prior   *providers.State
		want    map[string]string // attribute → its JSON, "?" for unknown
		wantErr string
	}{
		{
			name: "one GPU type",
			want: map[string]string{"id": "?", "cost_per_hour": "2.69", "gpu_type_selected": "NVIDIA H100 80GB HBM3", "image": engineNamed("vllm").Launch.Image,
				"args": vllmArgs, "ports": `["8000/http"]`, "created_at": "?"},
		},
		{
			name: "several GPU types of different prices",
			set:  map[string]cty.Value{"gpu_type": cty.TupleVal([]cty.Value{cty.StringVal("NVIDIA H100 80GB HBM3"), cty.StringVal("NVIDIA H100 PCIe")}), "gpu_count": cty.NumberIntVal(2)},
			want: map[string]string{"id": "?", "cost_per_hour": "?", "gpu_type_selected": "?", "image": engineNamed("vllm").Launch.Image,
				"args": vllmArgs + " --tensor-parallel-size 2", "ports": `["8000/http"]`, "created_at": "?"},
		},
		{
			name: "price times count on the community cloud",
			set:  map[string]cty.Value{"gpu_type": cty.StringVal("NVIDIA GeForce RTX 4090"), "gpu_count": cty.NumberIntVal(2), "cloud_type": cty.StringVal("COMMUNITY")},
			want: map[string]string{"cost_per_hour": "0.68", "gpu_type_selected": "NVIDIA GeForce RTX 4090"},
		},
		{
			name: "price_per_hour wins",
			set:  map[string]cty.Value{"price_per_hour": cty.NumberFloatVal(1.25)},
			want: map[string]string{"cost_per_hour": "1.25"},
		},
		{
			name: "sglang with a served model name, args hiding a token",
			set: map[string]cty.Value{"server": serverArgs(map[string]cty.Value{
				"engine": cty.StringVal("sglang"), "served_model_name": cty.StringVal("qwen"),
				"args": cty.ListVal([]cty.Value{cty.StringVal("--hf-token"), cty.StringVal(testHFToken)}),
			})},
			want: map[string]string{
				"image": engineNamed("sglang").Launch.Image, "ports": `["30000/http","9901/http"]`,
				"args": `bash -c ` + `'python3 -c '\''import base64,os;exec(base64.b64decode(os.environ["BENCHFORM_GPU_SIDECAR"]))'\'' & exec python3 -m sglang.launch_server --model-path Qwen/Qwen2.5-7B-Instruct --host 0.0.0.0 --port 30000 --enable-metrics --served-model-name qwen --api-key "$BENCHFORM_API_KEY" --hf-token '\''(sensitive)'\'''`,
			},
		},
		{
			name: "model not known yet",
			set:  map[string]cty.Value{"server": serverArgs(map[string]cty.Value{"model": cty.UnknownVal(cty.String)})},
			want: map[string]string{"image": "?", "args": "?", "ports": "?", "cost_per_hour": "2.69"},
		},
		{
			name: "GPU type not known yet",
			set:  map[string]cty.Value{"gpu_type": cty.UnknownVal(cty.String)},
			want: map[string]string{"cost_per_hour": "?", "gpu_type_selected": "?", "image": engineNamed("vllm").Launch.Image},
		},
		{
			name: "a plain pod runs its image",
			set:  map[string]cty.Value{"server": cty.NullVal(cty.DynamicPseudoType), "image": cty.StringVal("runpod/pytorch:2.8"), "ports": cty.ListVal([]cty.Value{cty.StringVal("8888/http")})},
			want: map[string]string{"image": "runpod/pytorch:2.8", "args": "", "ports": `["8888/http"]`},
		},
		{
			name:  "an in-place change keeps what the pod has",
			prior: &providers.State{ID: "pod1", Attrs: priorAttrs("NVIDIA H100 80GB HBM3")},
			set:   map[string]cty.Value{"server": serverArgs(map[string]cty.Value{"model": cty.StringVal("other/model")})},
			want:  map[string]string{"id": "pod1", "created_at": "2026-11-30T10:00:00Z", "cost_per_hour": "2.7", "gpu_type_selected": "NVIDIA H100 80GB HBM3"},
		},
		{
			name:  "a replacement learns everything again",
			prior: &providers.State{ID: "pod1", Attrs: priorAttrs("NVIDIA H100 PCIe")},
			want:  map[string]string{"id": "?", "created_at": "?", "cost_per_hour": "2.69"},
		},
		{name: "unknown GPU id", set: map[string]cty.Value{"gpu_type": cty.StringVal("NVIDIA H100")},
			wantErr: `gpu_type: RunPod has no GPU type "NVIDIA H100"; did you mean "NVIDIA H100 NVL", "NVIDIA H100 PCIe" or "NVIDIA H100 80GB HBM3"?`},
		{name: "a display name instead of the id", set: map[string]cty.Value{"gpu_type": cty.StringVal("H100 SXM")},
			wantErr: `did you mean "NVIDIA H100 80GB HBM3"`},
		{name: "a typo", set: map[string]cty.Value{"gpu_type": cty.StringVal("NVIDIA L40")},
			wantErr: `did you mean "NVIDIA L40S"`},
		{name: "not on the community cloud", set: map[string]cty.Value{"cloud_type": cty.StringVal("COMMUNITY")},
			wantErr: `gpu_type: "NVIDIA H100 80GB HBM3" is not offered on RunPod's COMMUNITY cloud`},
		{name: "too many GPUs", set: map[string]cty.Value{"gpu_count": cty.NumberIntVal(9)},
			wantErr: `gpu_count: a pod on the SECURE cloud has at most 8 of "NVIDIA H100 80GB HBM3", got 9`},
		{name: "no GPU type", set: map[string]cty.Value{"gpu_type": cty.NullVal(cty.DynamicPseudoType)}, wantErr: "gpu_type: a runpod pod needs one GPU type id"},
		{name: "bad port", set: map[string]cty.Value{"ports": cty.ListVal([]cty.Value{cty.StringVal("8000")})}, wantErr: `ports: element 0 must be PORT/http or PORT/tcp`},
		{name: "small volume", set: map[string]cty.Value{"volume_gb": cty.NumberIntVal(5)}, wantErr: "volume_gb: RunPod's smallest volume is 10 GB"},
		{name: "reserved env", set: map[string]cty.Value{"env": cty.MapVal(map[string]cty.Value{"VLLM_API_KEY": cty.StringVal("x")})}, wantErr: "env: VLLM_API_KEY cannot be set here: benchform sets it for vllm"},
		{name: "engine", set: map[string]cty.Value{"server": serverArgs(map[string]cty.Value{"engine": cty.StringVal("openai")})}, wantErr: `server.engine: a server on a RunPod pod runs an engine with a container image, not "openai"`},
		{name: "model", set: map[string]cty.Value{"server": serverArgs(map[string]cty.Value{"model": cty.NullVal(cty.String)})}, wantErr: "server.model: a server started on a pod needs the model"},
		{name: "ready_timeout", set: map[string]cty.Value{"server": serverArgs(map[string]cty.Value{"ready_timeout": cty.StringVal("soon")})}, wantErr: `server.ready_timeout: must be a positive duration such as "20m", got "soon"`},
		{name: "no server, no image", set: map[string]cty.Value{"server": cty.NullVal(cty.DynamicPseudoType)}, wantErr: "image: a pod with no server on it needs an image to run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.p.Plan(testCtx(t), providers.PlanRequest{Addr: "pod.gpu", Kind: providers.KindPod, Config: podConfigValue(tt.set), Prior: tt.prior})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for name := range tt.want {
				v := resp.Planned.GetAttr(name)
				if !v.IsKnown() {
					got[name] = "?"
				} else {
					if v.Type() == cty.String {
						got[name] = v.AsString()
						continue
					}
					b, err := ctyjson.Marshal(v, v.Type())
					if err != nil {
						t.Fatal(err)
					}
					got[name] = string(b)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Planned (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(podRequiresReplace, resp.RequiresReplace); diff != "" {
				t.Errorf("RequiresReplace (-want +got):\n%s", diff)
			}
			if s := resp.Planned.GoString(); strings.Contains(s, testHFToken) {
				t.Errorf("Planned holds a secret: %s", s)
			}
		})
	}
}

// priorAttrs is a stored pod object: its arguments and what the provider
// computed.
func priorAttrs(gpu string) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"gpu_type": cty.StringVal(gpu), "gpu_count": cty.NullVal(cty.Number), "cloud_type": cty.NullVal(cty.String),
		"container_disk_gb": cty.NullVal(cty.Number), "volume_gb": cty.NullVal(cty.Number), "data_center_ids": cty.NullVal(cty.List(cty.String)),
		"id": cty.StringVal("pod1"), "cost_per_hour": cty.NumberFloatVal(2.7), "gpu_type_selected": cty.StringVal(gpu),
		"created_at": cty.StringVal("2026-11-30T10:00:00Z"),
	})
}

func TestPlanServer(t *testing.T) {
	h := newHarness(t, runpodtest.Options{})
	tests := []struct {
		name   string
		config cty.Value
		want   cty.Value
	}{
		{
			name:   "pod known",
			config: serverConfigValue("pod123", map[string]cty.Value{"served_model_name": cty.StringVal("qwen")}),
			want: cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal("pod123"), "endpoint": cty.StringVal(h.fake.URL() + "/proxy/pod123-8000"),
				"model": cty.StringVal("qwen")}),
		},
		{
			name: "pod not created yet",
			config: serverConfigValue("", map[string]cty.Value{"engine": cty.StringVal("sglang"), "pod": cty.ObjectVal(map[string]cty.Value{
				"id": cty.UnknownVal(cty.String), "env": cty.NullVal(cty.Map(cty.String)), "gpu_count": cty.NullVal(cty.Number)})}),
			want: cty.ObjectVal(map[string]cty.Value{"id": cty.UnknownVal(cty.String), "endpoint": cty.UnknownVal(cty.String), "model": cty.StringVal(testModel)}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.p.Plan(testCtx(t), providers.PlanRequest{Addr: "server.x", Kind: providers.KindServer, Config: tt.config})
			if err != nil {
				t.Fatal(err)
			}
			if !resp.Planned.RawEquals(tt.want) {
				t.Errorf("Planned = %#v, want %#v", resp.Planned, tt.want)
			}
			if len(resp.RequiresReplace) != 0 {
				t.Errorf("RequiresReplace = %v", resp.RequiresReplace)
			}
		})
	}
}
