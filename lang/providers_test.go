package lang

import (
	"github.com/benchform/benchform/providers/local"
	"github.com/benchform/benchform/providers/runpod"
)

// The providers the benchform binary registers, as main does.
func init() {
	RegisterProvider("runpod", runpod.Schema)
	RegisterProvider("local", local.Schema)
}
