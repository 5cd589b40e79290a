package executor

import (
	"github.com/benchform/benchform/lang"
	"github.com/benchform/benchform/providers"
	"github.com/benchform/benchform/providers/local"
	"github.com/benchform/benchform/providers/runpod"
)

// The providers the benchform binary registers, as main does.
func init() {
	lang.RegisterProvider("runpod", runpod.Schema)
	lang.RegisterProvider("local", local.Schema)
}

// Schema lets the fake stand in for a provider whose pods bill.
func (f *fakeProvider) Schema() providers.Schema { return runpod.Schema }
