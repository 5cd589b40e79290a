package runpod

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// Production endpoints, used where neither configuration nor the
// environment names another.
const (
	DefaultRESTURL  = "https://api.runpod.io"
	DefaultProxyURL = "https://{podId}-{port}.proxy.runpod.net"
)

// Version is the benchform version sent in the User-Agent; main sets it at
// start-up.
var Version = "dev"

// Settings configure a Client and a Provider. The zero value of every field
// means its default, so Settings{APIKey: k} talks to the real RunPod.
type Settings struct {
	// APIKey is sent as a bearer token; it never appears in an error.
	APIKey string
	// RESTURL is the host of REST v2, without /v2 (a trailing /v2 is
	// accepted and dropped).
	RESTURL string
	// ProxyURL is the template of a pod's HTTP port through RunPod's
	// proxy, with {podId} and {port} placeholders.
	ProxyURL string
	// UserAgent defaults to benchform/<Version>: RunPod's Cloudflare front
	// refuses some default client User-Agents.
	UserAgent string
	// CloudType is the cloud of pods that name none ("SECURE" or
	// "COMMUNITY"); default SECURE.
	CloudType string
	// SecretDir holds the local secret from which servers' API keys are
	// derived; default $XDG_CONFIG_HOME/benchform, else
	// ~/.config/benchform.
	SecretDir string
	// HTTPClient makes every request; default a client with a 60s timeout.
	HTTPClient *http.Client
	// Sleep waits between retries and polls; default a timer that ends
	// early, with ctx's error, when ctx is done.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock of readiness deadlines and rate-limit pacing;
	// default time.Now.
	Now func() time.Time
	// MaxAttempts bounds the tries of one API request; default 6.
	MaxAttempts int
	// PollInterval is the gap between two looks at a pod while waiting for
	// it; default 5s, as RunPod asks for no faster polling.
	PollInterval time.Duration
	// Jitter returns a number in [0, 1) that spreads retries; default
	// math/rand.
	Jitter func() float64
}

// Environment variables read by SettingsFromEnv.
const (
	EnvAPIKey   = "RUNPOD_API_KEY"
	EnvRESTURL  = "RUNPOD_REST_URL"
	EnvProxyURL = "RUNPOD_PROXY_URL"
)

// Configure reads the provider "runpod" block (null when the configuration
// has none), then the environment for what the block leaves unset.
func Configure(block cty.Value) (Settings, error) {
	s, err := SettingsFromBlock(block)
	if err != nil {
		return Settings{}, err
	}
	return SettingsFromEnv(s), nil
}

// SettingsFromEnv fills the API key and the two URLs of base that are
// empty from RUNPOD_API_KEY, RUNPOD_REST_URL and RUNPOD_PROXY_URL. A value set in configuration (the provider block) wins
// over the environment, as in Terraform's providers: the environment is
// the default, not an override.
func SettingsFromEnv(base Settings) Settings {
	fill := func(dst *string, name string) {
		if *dst == "" {
			*dst = strings.TrimSpace(os.Getenv(name))
		}
	}
	fill(&base.APIKey, EnvAPIKey)
	fill(&base.RESTURL, EnvRESTURL)
	fill(&base.ProxyURL, EnvProxyURL)
	return base
}

// SettingsFromBlock reads a provider "runpod" block (api_key, cloud_type,
// rest_url, proxy_url; any of them null) into Settings. A null
// or absent block gives zero Settings.
func SettingsFromBlock(block cty.Value) (Settings, error) {
	var s Settings
	if block == cty.NilVal || block.IsNull() {
		return s, nil
	}
	block, _ = block.UnmarkDeep()
	if !block.IsWhollyKnown() {
		return s, fmt.Errorf("runpod: provider block: values must be known before apply")
	}
	if !block.Type().IsObjectType() {
		return s, fmt.Errorf("runpod: provider block: must be an object")
	}
	for name, dst := range map[string]*string{
		"api_key": &s.APIKey, "cloud_type": &s.CloudType, "rest_url": &s.RESTURL,
		"proxy_url": &s.ProxyURL,
	} {
		if !block.Type().HasAttribute(name) {
			continue
		}
		v := block.GetAttr(name)
		if v.IsNull() {
			continue
		}
		if v.Type() != cty.String {
			return s, fmt.Errorf("runpod: provider block: %s: must be a string", name)
		}
		*dst = v.AsString()
	}
	if s.ProxyURL != "" && (!strings.Contains(s.ProxyURL, "{podId}") || !strings.Contains(s.ProxyURL, "{port}")) {
		return s, fmt.Errorf("runpod: provider block: proxy_url must contain {podId} and {port}")
	}
	return s, nil
}

// withDefaults returns s with every zero field set to its default.
func (s Settings) withDefaults() Settings {
	if s.RESTURL == "" {
		s.RESTURL = DefaultRESTURL
	}
	s.RESTURL = strings.TrimSuffix(strings.TrimSuffix(s.RESTURL, "/"), "/v2")
	if s.ProxyURL == "" {
		s.ProxyURL = DefaultProxyURL
	}
	if s.UserAgent == "" {
		s.UserAgent = "benchform/" + Version
	}
	if s.CloudType == "" {
		s.CloudType = "SECURE"
	}
	if s.HTTPClient == nil {
		s.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if s.Sleep == nil {
		s.Sleep = sleep
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 6
	}
	if s.PollInterval <= 0 {
		s.PollInterval = 5 * time.Second
	}
	if s.Jitter == nil {
		s.Jitter = randFloat
	}
	return s
}

// secretDir returns where the key secret lives.
func (s Settings) secretDir() (string, error) {
	if s.SecretDir != "" {
		return s.SecretDir, nil
	}
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "benchform"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("runpod: no directory for the server key secret: set XDG_CONFIG_HOME or HOME: %w", err)
	}
	return filepath.Join(home, ".config", "benchform"), nil
}

// proxyURL fills the proxy template for one pod port.
func (s Settings) proxyURL(podID string, port int) string {
	u := strings.ReplaceAll(s.ProxyURL, "{podId}", podID)
	return strings.TrimSuffix(strings.ReplaceAll(u, "{port}", fmt.Sprint(port)), "/")
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
