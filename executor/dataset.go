package executor

import (
	"github.com/benchform/benchform/executor/dataset"
	"github.com/benchform/benchform/executor/workload"
	"github.com/benchform/benchform/lang"
)

// loadDataset builds a scenario's prompts: n of them, or as many as its
// file has. dir resolves a relative dataset path.
func loadDataset(spec lang.DatasetSpec, dir string, n int) ([]workload.Prompt, string, error) {
	length := func(l lang.LengthSpec) dataset.Length {
		return dataset.Length{Fixed: l.Fixed, Min: l.Min, Max: l.Max, Mean: l.Mean, StdDev: l.StdDev}
	}
	set, err := dataset.Load(dataset.Spec{
		Kind:         spec.Kind,
		Prompts:      spec.Prompts,
		Path:         spec.Path,
		Dir:          dir,
		Input:        length(spec.Input),
		Output:       length(spec.Output),
		PrefixTokens: spec.PrefixTokens,
		PrefixGroups: spec.PrefixGroups,
		Seed:         spec.Seed,
	}, n)
	if err != nil {
		return nil, "", err
	}
	return set.Prompts, set.Note, nil
}
