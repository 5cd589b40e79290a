package state

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSamples(t *testing.T) {
	s := newStore(t)
	run, err := s.BeginRun(Run{Scenario: "scenario.a", Status: RunRunning})
	if err != nil {
		t.Fatal(err)
	}
	sets := []SampleSet{
		{RunID: run, Step: -1, Kind: "gpu_idle:server.a", Data: []byte(`{"gpus":[]}`)},
		{RunID: run, Step: 0, Kind: "server", Data: []byte(`[1]`)},
		{RunID: run, Step: 0, Kind: "gpu", Data: []byte(`[2]`)},
	}
	for _, set := range sets {
		if err := s.PutSamples(set); err != nil {
			t.Fatal(err)
		}
	}
	// Putting a set again replaces it.
	sets[1].Data = []byte(`[1,1]`)
	if err := s.PutSamples(sets[1]); err != nil {
		t.Fatal(err)
	}
	got, err := s.Samples(run)
	if err != nil {
		t.Fatal(err)
	}
	want := []SampleSet{sets[0], sets[2], sets[1]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	if err := s.PutSamples(SampleSet{RunID: run + 99, Step: 0, Kind: "gpu", Data: []byte(`[]`)}); err == nil {
		t.Error("samples of a run that does not exist were stored")
	}
}
