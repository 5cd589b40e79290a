package runpod

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/engines"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/providers/runpod/runpodtest"
)

// Words that break naive quoting: spaces, both quotes, a backslash, shell
// metacharacters, an empty word, a would-be variable.
var awkward = []string{
	"--chat-template", `{% for m in messages %}{{ m['content'] }} it's "quoted"{% endfor %}`,
	"--override-generation-config", `{"temperature": 0.0}`,
	"--x", "a b\tc", "--y", `back\slash`, "--z", "", "--w", "$HOME;rm -rf /&`id`|*",
}

func engineNamed(name string) *engines.Engine {
	e, ok := engines.Lookup(name)
	if !ok {
		panic("no engine " + name)
	}
	return e
}

func TestVLLMArgsSurviveRunPodsSplitting(t *testing.T) {
	p := podConfig{gpuCount: 1, server: &serverConfig{engine: engineNamed("vllm"), model: `org/My Model's "v2"`, args: awkward}}
	c, err := buildContainer(p, "k")
	if err != nil {
		t.Fatal(err)
	}
	got, err := runpodtest.SplitArgs(c.args)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{`org/My Model's "v2"`, "--host", "0.0.0.0", "--port", "8000"}, awkward...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	if strings.Contains(c.args, "k") && strings.Contains(c.args, "VLLM_API_KEY") {
		t.Error("the key is in args")
	}
}

func TestShellQuote(t *testing.T) {
	tests := map[string]string{
		"plain":          "plain",
		"a/b:c=d,e.f-g@": "a/b:c=d,e.f-g@",
		"":               "''",
		"a b":            "'a b'",
		"it's":           `'it'\''s'`,
		`"$X"`:           `'"$X"'`,
	}
	for in, want := range tests {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestSGLangCommandRunsInBash runs the command RunPod would start in a real
// bash, with python3 replaced by a script that records its arguments.
func TestSGLangCommandRunsInBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	p := podConfig{gpuCount: 2, server: &serverConfig{engine: engineNamed("sglang"), model: `org/My Model's "v2"`, servedModelName: "m", args: awkward}}
	key := "bf-key with 'quote' and $dollar"
	c, err := buildContainer(p, key)
	if err != nil {
		t.Fatal(err)
	}
	argv, err := runpodtest.SplitArgs(c.args)
	if err != nil {
		t.Fatal(err)
	}
	if len(argv) != 3 || argv[0] != "bash" || argv[1] != "-c" {
		t.Fatalf("argv = %q, want bash -c SCRIPT", argv)
	}
	dir := t.TempDir()
	rec := filepath.Join(dir, "calls")
	fake := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> " + rec + ".$1; done\n"
	if err := os.WriteFile(filepath.Join(dir, "python3"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, argv[1:]...)
	cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
	for k, v := range c.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	// The sidecar runs in the background; give it a moment to record.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(rec + ".-c"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	launch, err := os.ReadFile(rec + ".-m")
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{"-m", "sglang.launch_server", "--model-path", `org/My Model's "v2"`, "--host", "0.0.0.0", "--port", "30000",
		"--tp", "2", "--enable-metrics", "--served-model-name", "m", "--api-key", key}, awkward...)
	got := strings.Split(strings.TrimSuffix(string(launch), "\n"), "\n")
	// Words holding a newline cannot be told apart in the record; there
	// are none, and the empty word is kept.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("launch argv (-want +got):\n%s", diff)
	}
	if strings.Contains(c.args, "bf-key") {
		t.Error("the key is in args")
	}
	sidecar, err := os.ReadFile(rec + ".-c")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sidecar), `exec(base64.b64decode(os.environ["BENCHFORM_GPU_SIDECAR"]))`) {
		t.Errorf("sidecar call = %q", sidecar)
	}
}

// TestSidecarScript runs the sidecar's Python source with an nvidia-smi
// stand-in and queries it over loopback.
func TestSidecarScript(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	dir := t.TempDir()
	smi := `#!/bin/sh
case "$1" in
  --query-gpu=index,bogus) echo 'Field "bogus" is not a valid field to query.'; exit 2;;
  --query-gpu=index,power.draw) [ "$2" = "--format=csv,noheader,nounits" ] || exit 9; printf '0, 312.50\n1, 298.10\n';;
  *) exit 3;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "nvidia-smi"), []byte(smi), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	key := "bf-sidecar-test-key"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", sidecarSource)
	cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin", "BENCHFORM_API_KEY=" + key, "BENCHFORM_GPU_PORT=" + strconv.Itoa(port)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	for i := 0; i < 200; i++ { // up to 10s for the interpreter to start
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	p := New(Settings{APIKey: "k", SecretDir: t.TempDir()})
	tests := []struct {
		fields   string
		key      string
		wantCode int
		wantExit string
		wantBody string
	}{
		{"index,power.draw", key, 200, "0", "0, 312.50\n1, 298.10\n"},
		{"index,bogus", key, 200, "2", "Field \"bogus\" is not a valid field to query.\n"},
		{"index,power.draw", "wrong", 401, "", "unauthorized\n"},
		{"index;reboot", key, 400, "", "invalid field name\n"},
	}
	for _, tt := range tests {
		st, body, err := p.proxyGetHeader(ctx, base+"/nvidia-smi?fields="+tt.fields, tt.key)
		if err != nil {
			t.Fatal(err)
		}
		if st.code != tt.wantCode || st.exit != tt.wantExit || string(body) != tt.wantBody {
			t.Errorf("%s: %d %q %q, want %d %q %q", tt.fields, st.code, st.exit, body, tt.wantCode, tt.wantExit, tt.wantBody)
		}
	}
}

func TestQueryGPU(t *testing.T) {
	for _, tt := range []struct {
		engine  string
		fields  []string
		want    string
		wantErr string
	}{
		{engine: "sglang", fields: []string{"index", "power.draw"}, want: "0, 312.50\n1, 312.50\n"},
		{engine: "sglang", fields: []string{"index", "bogus"}, wantErr: `nvidia-smi exited 2: Field "bogus" is not a valid field to query.`},
		{engine: "vllm", fields: []string{"index", "utilization.gpu", "memory.used", "memory.total", "power.draw"}, want: "0, 93, 61440, 81920, [N/A]\n1, 93, 61440, 81920, [N/A]\n"},
		{engine: "vllm", fields: []string{"index", "x;y"}, wantErr: `"x;y" is not an nvidia-smi field name`},
	} {
		t.Run(tt.engine+" "+strings.Join(tt.fields, ","), func(t *testing.T) {
			h := newHarness(t, runpodtest.Options{RuntimeAfter: time.Second})
			server := map[string]cty.Value{"engine": cty.StringVal(tt.engine)}
			st := h.createPod(podConfigValue(map[string]cty.Value{"gpu_count": cty.NumberIntVal(2), "server": serverArgs(server)}))
			h.fake.SetGPUUtil(st.ID, 93, 75)
			h.clock.Advance(time.Minute)
			req := providers.GPURequest{Addr: "server.x", State: providers.State{ID: st.ID}, Config: serverOn(st, server), Fields: tt.fields}
			got, err := h.p.QueryGPU(testCtx(t), req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("QueryGPU = %q, want %q", got, tt.want)
			}
			// Samples taken within a few seconds share one API read.
			before := h.fake.Count(http.MethodGet, "/v2/pods/")
			for i := 0; i < 3; i++ {
				if _, err := h.p.QueryGPU(testCtx(t), req); err != nil {
					t.Fatal(err)
				}
			}
			if n := h.fake.Count(http.MethodGet, "/v2/pods/") - before; n != 0 {
				t.Errorf("three quick samples read the pod %d times", n)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	t.Setenv(EnvAPIKey, "env-key")
	t.Setenv(EnvRESTURL, "http://env/v2")
	t.Setenv(EnvProxyURL, "")
	block := cty.ObjectVal(map[string]cty.Value{
		"api_key": cty.NullVal(cty.String), "cloud_type": cty.StringVal("COMMUNITY"), "rest_url": cty.StringVal("http://block"),
		"proxy_url": cty.NullVal(cty.String),
	})
	s, err := Configure(block)
	if err != nil {
		t.Fatal(err)
	}
	s = s.withDefaults()
	// The block's rest_url wins over the environment's; the key, which the
	// block leaves unset, comes from the environment.
	got := []string{s.APIKey, s.RESTURL, s.ProxyURL, s.CloudType, s.UserAgent}
	want := []string{"env-key", "http://block", DefaultProxyURL, "COMMUNITY", "benchform/" + Version}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	if u := (Settings{RESTURL: "http://env/v2/"}).withDefaults().RESTURL; u != "http://env" {
		t.Errorf("a REST URL ending in /v2 becomes %q", u)
	}
	bad := cty.ObjectVal(map[string]cty.Value{"proxy_url": cty.StringVal("https://proxy.example")})
	if _, err := SettingsFromBlock(bad); err == nil || !strings.Contains(err.Error(), "proxy_url must contain {podId} and {port}") {
		t.Errorf("error = %v", err)
	}
	if u := s.proxyURL("abc", 8000); u != "https://abc-8000.proxy.runpod.net" {
		t.Errorf("proxy URL = %q", u)
	}
}
