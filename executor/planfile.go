package executor

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/benchform/benchform/lang"
)

// SavedPlanFormat is the version of the saved plan format this binary
// writes and reads.
const SavedPlanFormat = 1

// SavedPlan is what plan -out writes: what is needed to make the same plan
// again at apply time, and a fingerprint of the plan to check that it came
// out the same. It holds no secret: values of sensitive variables are left
// out and must be supplied again when the plan is applied.
type SavedPlan struct {
	Format  int           `json:"format"`
	Dir     string        `json:"dir"`
	State   string        `json:"state"`
	Lineage string        `json:"lineage"`
	Serial  int64         `json:"serial"`
	Destroy bool          `json:"destroy"`
	Targets []string      `json:"targets,omitempty"`
	Replace []string      `json:"replace,omitempty"`
	Vars    []lang.VarArg `json:"vars,omitempty"`
	Changes []SavedChange `json:"changes"`
}

// SavedChange is one change of a saved plan's fingerprint.
type SavedChange struct {
	Address    string `json:"address"`
	Action     string `json:"action"`
	ConfigHash string `json:"config_hash,omitempty"`
}

// Fingerprint lists the plan's changes in a form that compares equal when
// the same plan is made again from the same configuration and state.
func (p *Plan) Fingerprint() []SavedChange {
	out := make([]SavedChange, 0, len(p.Changes))
	for _, c := range p.Changes {
		out = append(out, SavedChange{Address: c.Addr.String(), Action: c.Action.String(), ConfigHash: c.configHash})
	}
	sortSaved(out)
	return out
}

func sortSaved(s []SavedChange) {
	sort.Slice(s, func(i, j int) bool { return s[i].Address < s[j].Address })
}

// SameAs reports whether a plan made now matches a saved one, and if not,
// the first difference.
func (p *Plan) SameAs(saved *SavedPlan) (bool, string) {
	if p.Lineage != saved.Lineage {
		return false, "it was made against another state file"
	}
	if p.Serial != saved.Serial {
		return false, fmt.Sprintf("the state changed since the plan was saved (serial %d, now %d)", saved.Serial, p.Serial)
	}
	now := p.Fingerprint()
	want := append([]SavedChange(nil), saved.Changes...)
	sortSaved(want)
	for i := 0; i < max(len(now), len(want)); i++ {
		switch {
		case i >= len(now):
			return false, fmt.Sprintf("%s is no longer part of the plan", want[i].Address)
		case i >= len(want):
			return false, fmt.Sprintf("%s is now part of the plan", now[i].Address)
		case now[i] != want[i]:
			return false, fmt.Sprintf("%s: the plan for it changed", now[i].Address)
		}
	}
	return true, ""
}

// WriteSavedPlan writes a saved plan, readable only by its owner.
func WriteSavedPlan(path string, sp *SavedPlan) error {
	b, err := json.MarshalIndent(sp, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// ReadSavedPlan reads a saved plan.
func ReadSavedPlan(path string) (*SavedPlan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sp SavedPlan
	if err := json.Unmarshal(b, &sp); err != nil {
		return nil, fmt.Errorf("%s is not a saved plan: %w", path, err)
	}
	if sp.Format != SavedPlanFormat {
		return nil, fmt.Errorf("%s is a saved plan of format %d; this benchform reads format %d", path, sp.Format, SavedPlanFormat)
	}
	return &sp, nil
}
