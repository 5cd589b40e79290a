package telemetry

import (
	"maps"
	"slices"
	"strconv"

	"github.com/benchform/benchform/engines"
)

// ServerInfo is the server's configuration as stated by its metrics, worth
// recording once per run.
type ServerInfo struct {
	// Engine is the engine whose families the server exposes ("vllm",
	// "sglang", ...): the one with the most families in the scrape.
	Engine string `json:"engine,omitempty"`
	Model  string `json:"model,omitempty"`
	// Replicas counts distinct data-parallel replicas.
	Replicas     int      `json:"replicas,omitempty"`
	BlockSize    *float64 `json:"block_size,omitempty"`
	NumGPUBlocks *float64 `json:"num_gpu_blocks,omitempty"`
	// KVCapacityTokens is num_gpu_blocks × block_size (vLLM) or
	// max_total_num_tokens (SGLang), summed over replicas.
	KVCapacityTokens     *float64 `json:"kv_capacity_tokens,omitempty"`
	PrefixCaching        *bool    `json:"prefix_caching,omitempty"`
	CacheDType           string   `json:"cache_dtype,omitempty"`
	GPUMemoryUtilization *float64 `json:"gpu_memory_utilization,omitempty"`
	EngineStartupS       *float64 `json:"engine_startup_s,omitempty"`
	EngineLoadWeightsS   *float64 `json:"engine_load_weights_s,omitempty"`
}

// Info reads the server's configuration from a scrape.
func (s Scrape) Info() ServerInfo {
	var info ServerInfo
	count := map[string]int{}
	replicas := map[string]bool{}
	for _, n := range slices.Sorted(maps.Keys(s.Families)) {
		e, ok := engines.ByFamily(n)
		if !ok {
			continue
		}
		count[e.Name]++
		for _, ser := range s.Families[n].Series {
			if info.Model == "" {
				info.Model = firstLabel(ser.Labels, modelLabels)
			}
			replicas[replicaOf(ser.Labels)] = true
		}
	}
	// The engine with most families wins, ties to the first by name.
	for _, name := range slices.Sorted(maps.Keys(count)) {
		if count[name] > count[info.Engine] {
			info.Engine = name
		}
	}
	if len(replicas) > 0 {
		info.Replicas = len(replicas)
	}
	if f, ok := find(&s, engines.CacheConfig); ok {
		readCacheConfig(s.Families[f.Name], &info)
	}
	if info.KVCapacityTokens == nil {
		if v, ok := gaugeTotal(s, engines.KVCapacityTokens); ok {
			info.KVCapacityTokens = num(v)
		}
	}
	if v, ok := gaugeTotal(s, engines.StartupSeconds); ok {
		info.EngineStartupS = num(v)
	}
	if v, ok := gaugeTotal(s, engines.LoadWeightsSecs); ok {
		info.EngineLoadWeightsS = num(v)
	}
	return info
}

// readCacheConfig reads vLLM's cache_config_info, whose labels state the
// KV cache's settings, one series per replica.
func readCacheConfig(f Family, info *ServerInfo) {
	var blocks, capacity float64
	var haveBlocks, haveCapacity bool
	for _, ser := range f.Series {
		l := ser.Labels
		bs, errBS := strconv.ParseFloat(l["block_size"], 64)
		if errBS == nil && info.BlockSize == nil {
			info.BlockSize = num(bs)
		}
		if nb, err := strconv.ParseFloat(l["num_gpu_blocks"], 64); err == nil {
			blocks += nb
			haveBlocks = true
			if errBS == nil {
				capacity += nb * bs
				haveCapacity = true
			}
		}
		if v, err := strconv.ParseBool(l["enable_prefix_caching"]); err == nil && info.PrefixCaching == nil {
			info.PrefixCaching = new(v)
		}
		if v := l["cache_dtype"]; v != "" && info.CacheDType == "" {
			info.CacheDType = v
		}
		if v, err := strconv.ParseFloat(l["gpu_memory_utilization"], 64); err == nil && info.GPUMemoryUtilization == nil {
			info.GPUMemoryUtilization = num(v)
		}
	}
	if haveBlocks {
		info.NumGPUBlocks = num(blocks)
	}
	if haveCapacity {
		info.KVCapacityTokens = num(capacity)
	}
}

func firstLabel(labels map[string]string, names []string) string {
	for _, n := range names {
		if v := labels[n]; v != "" {
			return v
		}
	}
	return ""
}
