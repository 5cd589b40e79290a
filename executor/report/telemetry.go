package report

import (
	"io"
	"strconv"

	"github.com/benchform/benchform/executor"
)

// telemetryColumn is one figure of the telemetry table: its header, how
// to read it from a step (ok false when the step has none), and decimals.
type telemetryColumn struct {
	header string // "" for a figure JSON and CSV carry but the table does not
	// key names the figure in JSON and CSV, with its unit.
	key      string
	value    func(executor.StepSummary) (float64, bool)
	decimals int
}

func ptr(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

var telemetryColumns = []telemetryColumn{
	{"srv gen tok", "server_generation_tokens", func(s executor.StepSummary) (float64, bool) {
		if s.ServerMetrics == nil {
			return 0, false
		}
		return ptr(s.ServerMetrics.Total.GenerationTokens)
	}, 0},
	{"running max", "server_running_max", func(s executor.StepSummary) (float64, bool) {
		if s.ServerMetrics == nil || s.ServerMetrics.Total.Running == nil {
			return 0, false
		}
		return s.ServerMetrics.Total.Running.Max, true
	}, 0},
	{"waiting max", "server_waiting_max", func(s executor.StepSummary) (float64, bool) {
		if s.ServerMetrics == nil || s.ServerMetrics.Total.Waiting == nil {
			return 0, false
		}
		return s.ServerMetrics.Total.Waiting.Max, true
	}, 0},
	{"KV max %", "server_kv_cache_usage_max_pct", func(s executor.StepSummary) (float64, bool) {
		if s.ServerMetrics == nil || s.ServerMetrics.Total.KVCacheUsage == nil {
			return 0, false
		}
		return 100 * s.ServerMetrics.Total.KVCacheUsage.Max, true
	}, 1},
	{"prefix hit %", "server_prefix_cache_hit_rate_pct", func(s executor.StepSummary) (float64, bool) {
		if s.ServerMetrics == nil || s.ServerMetrics.Total.PrefixCacheHitRate == nil {
			return 0, false
		}
		return 100 * *s.ServerMetrics.Total.PrefixCacheHitRate, true
	}, 1},
	{"preempt", "server_preemptions", func(s executor.StepSummary) (float64, bool) {
		if s.ServerMetrics == nil {
			return 0, false
		}
		return ptr(s.ServerMetrics.Total.Preemptions)
	}, 0},
	{"srv TTFT mean", "server_ttft_ms_mean", func(s executor.StepSummary) (float64, bool) {
		if s.ServerMetrics == nil || s.ServerMetrics.Total.TTFT == nil {
			return 0, false
		}
		return ptr(s.ServerMetrics.Total.TTFT.Mean)
	}, 2},
	{"GPU %", "gpu_util_pct_mean", func(s executor.StepSummary) (float64, bool) {
		if s.GPU == nil {
			return 0, false
		}
		return ptr(s.GPU.UtilizationPctMean)
	}, 1},
	{"GPU mem GiB", "gpu_memory_used_gib_max", func(s executor.StepSummary) (float64, bool) {
		if s.GPU == nil || s.GPU.MemoryUsedMiBMax == nil {
			return 0, false
		}
		return *s.GPU.MemoryUsedMiBMax / 1024, true
	}, 1},
	{"power W", "gpu_power_w_mean", func(s executor.StepSummary) (float64, bool) {
		if s.GPU == nil {
			return 0, false
		}
		return ptr(s.GPU.PowerWMean)
	}, 0},
	{"energy J", "gpu_energy_j", func(s executor.StepSummary) (float64, bool) {
		if s.Energy == nil {
			return 0, false
		}
		return s.Energy.EnergyJ, true
	}, 0},
	{"J/tok", "j_per_output_token", func(s executor.StepSummary) (float64, bool) {
		if s.Energy == nil {
			return 0, false
		}
		return ptr(s.Energy.JPerOutputToken)
	}, 3},
	{"Wh/1k req", "wh_per_1000_requests", func(s executor.StepSummary) (float64, bool) {
		if s.Energy == nil {
			return 0, false
		}
		return ptr(s.Energy.WhPer1000Requests)
	}, 2},
	{"cost $", "cost_usd", func(s executor.StepSummary) (float64, bool) { return ptr(s.CostUSD) }, 4},
	{"$/1M out tok", "usd_per_million_output_tokens", func(s executor.StepSummary) (float64, bool) { return ptr(s.USDPerMillionOutputTokens) }, 2},
	{"", "server_token_ratio", func(s executor.StepSummary) (float64, bool) { return ptr(s.ServerTokenRatio) }, 0},
	{"", "gpu_power_w_max", func(s executor.StepSummary) (float64, bool) {
		if s.GPU == nil {
			return 0, false
		}
		return ptr(s.GPU.PowerWMax)
	}, 0},
	{"", "gpu_counter_energy_j", func(s executor.StepSummary) (float64, bool) {
		if s.GPU == nil {
			return 0, false
		}
		return ptr(s.GPU.CounterEnergyJ)
	}, 0},
	{"", "output_tokens_per_j", func(s executor.StepSummary) (float64, bool) {
		if s.Energy == nil {
			return 0, false
		}
		return ptr(s.Energy.OutputTokensPerJ)
	}, 0},
	{"", "price_per_hour_usd", func(s executor.StepSummary) (float64, bool) { return s.PricePerHour, s.PricePerHour > 0 }, 0},
}

// telemetryTable writes, under a run's latency table, what the server's
// metrics, its GPUs and its price said of each step. Only columns some step
// has data for appear: an endpoint without telemetry gets no empty columns,
// and a run with none gets no table.
func telemetryTable(w io.Writer, run executor.StoredRun, multi bool) error {
	var cols []telemetryColumn
	for _, c := range telemetryColumns {
		if c.header == "" {
			continue
		}
		for _, s := range run.Steps {
			if _, ok := c.value(s); ok {
				cols = append(cols, c)
				break
			}
		}
	}
	if len(cols) == 0 {
		return nil
	}
	header := []string{"server", loadHeader(run)}
	for _, c := range cols {
		header = append(header, c.header)
	}
	var rows [][]string
	for _, s := range run.Steps {
		row := []string{s.Server, loadLabel(s)}
		for _, c := range cols {
			v, ok := c.value(s)
			if !ok {
				row = append(row, "-")
				continue
			}
			row = append(row, strconv.FormatFloat(v, 'f', c.decimals, 64))
		}
		rows = append(rows, row)
	}
	return stepTable(w, header, rows, multi)
}
