# Every block and most arguments of the language, valid together.

variable "model" {
  type        = string
  default     = "Qwen/Qwen2.5-7B-Instruct"
  description = "The model every server serves."
}

variable "concurrency" {
  type    = list(number)
  default = [1, 8]
}

variable "hf_token" {
  type      = string
  default   = ""
  sensitive = true
}

variable "endpoint" {
  type = string
}

locals {
  name_prefix = lower(format("%s-%d", "Bench", 1))
  env         = merge({ A = "1" }, { B = upper("b") })
  requests    = max(10, length(var.concurrency) * 5)
}

provider "runpod" {
  api_key    = env("RUNPOD_API_KEY")
  cloud_type = "SECURE"
}

pod "h100" {
  provider          = "runpod"
  gpu_type          = ["NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"]
  gpu_count         = 1
  cloud_type        = "SECURE"
  container_disk_gb = 60
  env               = merge(local.env, { HF_TOKEN = var.hf_token })
  ttl               = "3h"
}

pod "here" {
  provider = "local"
}

server "vllm" {
  engine = "vllm"
  pod    = pod.h100
  model  = var.model
  args   = concat(["--max-model-len", "8192"], ["--enable-prefix-caching"])
}

server "sglang" {
  engine = "sglang"
  pod    = pod.here
  model  = var.model
}

server "existing" {
  engine   = "openai"
  endpoint = var.endpoint
  api_key  = env("OPENAI_API_KEY")
}

server "sim" {
  engine = "simulated"
  model  = "${local.name_prefix}-sim"

  simulate {
    ttft              = "50ms"
    itl               = "10ms"
    jitter            = 0.2
    max_num_seqs      = 16
    itl_per_seq       = "100us"
    prefill_per_token = "10us"
    seed              = 42
    max_model_len     = 4096
  }
}

scenario "compare" {
  server      = [server.vllm, server.sglang]
  api         = "completions"
  max_tokens  = 256
  percentiles = [50, 90, 99, 99.9]

  dataset {
    kind          = "synthetic"
    input_tokens  = 512
    output_tokens = 256
    seed          = 1
  }

  load {
    concurrency = var.concurrency
    requests    = local.requests
    warmup      = 2
  }

  slo {
    ttft = "500ms"
    tpot = "50ms"
    itl  = "100ms"
    e2el = "20s"
  }
}

scenario "prompts" {
  server = server.sim

  dataset {
    kind    = "prompts"
    prompts = ["Hello", file("prompt.txt")]
  }

  load {
    concurrency = [2]
    requests    = 4
  }
}

output "endpoint" {
  value = server.vllm.endpoint
}

output "pod_id" {
  value       = pod.h100.id
  description = "The RunPod id of the pod."
}

scenario "open_loop" {
  server     = server.sim
  ignore_eos = true
  extra_body = { temperature = 0, top_p = 0.9 }

  dataset {
    kind          = "synthetic"
    input_tokens  = { mean = 512, stddev = 64 }
    output_tokens = { min = 64, max = 256 }
    prefix_tokens = 128
    prefix_groups = 4
    seed          = 3
  }

  load {
    rate            = [1, 5, "inf"]
    arrival         = "gamma"
    burstiness      = 0.5
    max_concurrency = 64
    requests        = 50
    warmup          = 2
  }
}

scenario "from_file" {
  server = server.sim

  dataset {
    kind = "jsonl"
    path = "prompts.jsonl"
  }

  load {
    concurrency = [4]
    duration    = "30s"
  }
}
