package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/benchform/benchform/providers"
)

// queryTimeout bounds one nvidia-smi run: it hangs when the driver does.
const queryTimeout = 30 * time.Second

// QueryGPU runs nvidia-smi on this machine, where every local server runs,
// and returns its CSV output: one line per GPU, the fields in the order
// asked, without header or units. Every GPU of the machine is listed,
// whichever the server uses.
func (p *Provider) QueryGPU(ctx context.Context, req providers.GPURequest) ([]byte, error) {
	if len(req.Fields) == 0 {
		return nil, errors.New("local: nvidia-smi: no fields to query")
	}
	for _, f := range req.Fields {
		if f == "" || strings.ContainsAny(f, ", \t\n") {
			return nil, fmt.Errorf("local: nvidia-smi: %q is not a field name", f)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.s.NvidiaSMI, "--query-gpu="+strings.Join(req.Fields, ","), "--format=csv,noheader,nounits")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A child of nvidia-smi holding the pipes must not hold Wait too.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		// nvidia-smi explains itself on stdout ("NVIDIA-SMI has failed
		// because it couldn't communicate with the NVIDIA driver") as
		// often as on stderr.
		why := strings.TrimSpace(stderr.String())
		if why == "" {
			why = strings.TrimSpace(stdout.String())
		}
		if len(why) > 512 {
			why = why[:512] + "…"
		}
		if why != "" {
			return nil, fmt.Errorf("local: nvidia-smi: %w: %s", err, why)
		}
		return nil, fmt.Errorf("local: nvidia-smi: %w", err)
	}
	return stdout.Bytes(), nil
}
