package runpod

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// secretFile is the name of the local secret in Settings.SecretDir.
const secretFile = "runpod-server-key.secret"

// serverKey returns the API key of the server on the pod named podName:
// HMAC-SHA256 of the name under the local secret. The proxy in front of a
// pod is public, so every server needs a key; state must hold no secret,
// so the key is derived again whenever it is needed instead of stored.
func (p *Provider) serverKey(podName string) (string, error) {
	if podName == "" {
		return "", errors.New("runpod: derive server key: the pod has no name")
	}
	secret, err := p.loadSecret()
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("benchform runpod server key\x00" + podName))
	return "bf-" + hex.EncodeToString(mac.Sum(nil)[:24]), nil
}

// loadSecret reads the secret, creating it on first use.
func (p *Provider) loadSecret() ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.secret != nil {
		return p.secret, nil
	}
	dir, err := p.s.secretDir()
	if err != nil {
		return nil, err
	}
	secret, err := readOrCreateSecret(filepath.Join(dir, secretFile))
	if err != nil {
		return nil, err
	}
	p.secret = secret
	return secret, nil
}

// readOrCreateSecret reads the secret at path or creates it. A new secret
// is written to a temporary file and linked into place, which fails when
// another process got there first; either way every process ends up
// reading the one secret on disk, never a half-written file.
func readOrCreateSecret(path string) ([]byte, error) {
	if b, err := readSecret(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("runpod: create %s for the server key secret: %w", dir, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("runpod: server key secret: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".secret-*")
	if err != nil {
		return nil, fmt.Errorf("runpod: write server key secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return nil, fmt.Errorf("runpod: write server key secret: %w", err)
	}
	if _, err := tmp.WriteString(hex.EncodeToString(raw) + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("runpod: write server key secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("runpod: write server key secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("runpod: write server key secret: %w", err)
	}
	return readSecret(path)
}

func readSecret(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("runpod: the server key secret %s is readable by others (mode %04o): chmod 600 it", path, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("runpod: read server key secret: %w", err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(secret) < 16 {
		return nil, fmt.Errorf("runpod: the server key secret %s is damaged; remove it to make a new one (servers started with the old one then need a new apply)", path)
	}
	return secret, nil
}
