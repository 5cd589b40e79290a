package runpod

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/benchform/benchform/engines"
)

// gpuSidecarPort is the container port of the GPU telemetry sidecar that
// pods run beside a server whose image runs the command it is given (see
// QueryGPU).
const gpuSidecarPort = 9901

// sidecarPort is the sidecar's port for a server listening on port.
func sidecarPort(serverPort int) int {
	if serverPort == gpuSidecarPort {
		return gpuSidecarPort + 1
	}
	return gpuSidecarPort
}

// keyRef stands for the server's API key on a command line run by the
// container's shell, which expands it from the environment: the key
// itself never enters args, which RunPod shows and state stores.
const keyRef = "$BENCHFORM_API_KEY"

// container is what a pod runs: the fields of a create or update request.
type container struct {
	image string
	args  string
	env   map[string]string
	ports []string
}

// buildContainer derives a pod's container from the pod and the server on
// it, whose engine says what to run. key is the server's API key; it
// reaches the container only through env (the variable the engine reads
// it from, or BENCHFORM_API_KEY expanded by the shell that starts an
// engine reading none), never through args.
func buildContainer(p podConfig, key string) (container, error) {
	c := container{image: p.image, env: map[string]string{}}
	for k, v := range p.env {
		c.env[k] = v
	}
	s := p.server
	if s == nil {
		c.ports = append([]string(nil), p.ports...)
		return c, nil
	}
	for k, v := range s.env {
		c.env[k] = v
	}
	if p.volumeGB > 0 {
		if _, ok := c.env["HF_HOME"]; !ok {
			c.env["HF_HOME"] = volumeMountPath + "/hf"
		}
	}
	e := s.engine
	if e == nil || e.Launch == nil || e.Launch.Image == "" {
		return c, fmt.Errorf("engine %q cannot run on a RunPod pod", s.engineName())
	}
	l := e.Launch
	if c.image == "" {
		c.image = firstNonEmpty(s.image, l.Image)
	}
	port := s.listenPort()
	wantPorts := []string{fmt.Sprintf("%d/http", port)}
	cmd := engines.Command{Model: s.model, ServedName: s.servedModelName, Host: "0.0.0.0", Port: port, GPUs: p.gpuCount, Args: s.args}
	for k, v := range e.Environment(cmd, key) {
		c.env[k] = v
	}
	if len(l.Entrypoint) > 0 {
		// The image's ENTRYPOINT runs the engine: args are the rest of
		// its command line. A key can then only come from the
		// environment.
		if l.KeyEnv == "" && l.KeyFlag != "" {
			return c, fmt.Errorf("engine %q takes its API key only on the command line, which a RunPod pod's args would show", e.Name)
		}
		argv := e.Argv(cmd)
		c.args = shellJoin(argv[len(l.Entrypoint):])
	} else {
		// The image runs the command it is given, so a shell can start
		// the sidecar in the background and then become the server.
		if l.KeyEnv == "" && l.KeyFlag != "" {
			cmd.APIKey = keyRef
			c.env["BENCHFORM_API_KEY"] = key
		}
		gpuPort := sidecarPort(port)
		wantPorts = append(wantPorts, fmt.Sprintf("%d/http", gpuPort))
		script := sidecarCommand + " & exec " + shellJoin(e.Argv(cmd))
		c.args = shellJoin([]string{"bash", "-c", script})
		c.env["BENCHFORM_GPU_PORT"] = strconv.Itoa(gpuPort)
		c.env["BENCHFORM_GPU_SIDECAR"] = base64.StdEncoding.EncodeToString([]byte(sidecarSource))
	}
	if p.ports == nil {
		c.ports = wantPorts
	} else {
		// Ports the user lists are kept; the server's are added so that
		// readiness and telemetry can reach them.
		c.ports = append([]string(nil), p.ports...)
		for _, w := range wantPorts {
			if !containsString(c.ports, w) {
				c.ports = append(c.ports, w)
			}
		}
	}
	return c, nil
}

// runsSidecar reports whether a server's pod runs the GPU sidecar: its
// image runs the command it is given.
func (s *serverConfig) runsSidecar() bool {
	return s.engine != nil && s.engine.Launch != nil && len(s.engine.Launch.Entrypoint) == 0
}

// sidecarCommand starts the telemetry sidecar from its source in the
// environment; base64 keeps the source clear of any quoting.
const sidecarCommand = `python3 -c 'import base64,os;exec(base64.b64decode(os.environ["BENCHFORM_GPU_SIDECAR"]))'`

// sidecarSource serves `nvidia-smi --query-gpu` on BENCHFORM_GPU_PORT to
// callers that present the server's API key. Field names are checked
// against nvidia-smi's alphabet and passed as one argv word, never through
// a shell. The exit status travels in X-Exit-Status so that a field the
// driver does not know (exit 2) can be told from a broken sidecar.
const sidecarSource = `import hmac, http.server, os, re, subprocess, urllib.parse
KEY = os.environ.get("BENCHFORM_API_KEY", "")
FIELD = re.compile(r"^[a-z0-9_.]+$")
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path != "/nvidia-smi":
            return self.reply(404, b"not found\n", "")
        got = self.headers.get("Authorization", "")
        if not KEY or not hmac.compare_digest(got.encode(), ("Bearer " + KEY).encode()):
            return self.reply(401, b"unauthorized\n", "")
        fields = urllib.parse.parse_qs(u.query).get("fields", [""])[0].split(",")
        if not all(FIELD.match(f) for f in fields):
            return self.reply(400, b"invalid field name\n", "")
        try:
            p = subprocess.run(["nvidia-smi", "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        except Exception as e:
            return self.reply(500, ("nvidia-smi: %s\n" % e).encode(), "")
        body = p.stdout if p.returncode == 0 else p.stdout + p.stderr
        self.reply(200, body, str(p.returncode))
    def reply(self, code, body, status):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if status:
            self.send_header("X-Exit-Status", status)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("BENCHFORM_GPU_PORT", "9901"))), Handler).serve_forever()
`

// redactArgs hides the values of flags that carry secrets in args shown
// in plans and kept in state; the container gets them unchanged.
func redactArgs(words []string) []string {
	out := append([]string(nil), words...)
	for i := 0; i < len(out); i++ {
		w := out[i]
		name, _, hasValue := strings.Cut(w, "=")
		if !secretFlag[name] {
			continue
		}
		if hasValue {
			out[i] = name + "=(sensitive)"
		} else if i+1 < len(out) {
			out[i+1] = "(sensitive)"
			i++
		}
	}
	return out
}

var secretFlag = map[string]bool{"--api-key": true, "--hf-token": true, "--token": true, "--admin-api-key": true}

// shownArgs is the args string as plans and state show it.
func shownArgs(p podConfig) string {
	if p.server == nil || len(p.server.args) == 0 {
		c, _ := buildContainer(p, "")
		return c.args
	}
	q := *p.server
	q.args = redactArgs(q.args)
	p.server = &q
	c, _ := buildContainer(p, "")
	return c.args
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
