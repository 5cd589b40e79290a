# Qwen2.5-7B on one H100, served by vLLM and by SGLang, compared at
# concurrency 1 to 64. Needs a RunPod API key and, for gated models, a
# Hugging Face token:
#
#   export RUNPOD_API_KEY=...   HF_TOKEN=...
#   benchform plan examples/runpod
#   benchform apply examples/runpod
#   benchform destroy examples/runpod
#
# The two pods cost money from the moment apply creates them; ttl makes
# benchform destroy them if they are still there three hours later.

variable "model" {
  type    = string
  default = "Qwen/Qwen2.5-7B-Instruct"
}

provider "runpod" {
  cloud_type = "SECURE"
}

pod "vllm" {
  gpu_type          = ["NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"]
  gpu_count         = 1
  container_disk_gb = 60
  env               = { HF_TOKEN = env("HF_TOKEN") }
  ttl               = "3h"
}

pod "sglang" {
  gpu_type          = ["NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"]
  gpu_count         = 1
  container_disk_gb = 60
  env               = { HF_TOKEN = env("HF_TOKEN") }
  ttl               = "3h"
}

server "vllm" {
  engine = "vllm"
  pod    = pod.vllm
  model  = var.model
  args   = ["--max-model-len", "8192", "--enable-prefix-caching"]
}

server "sglang" {
  engine = "sglang"
  pod    = pod.sglang
  model  = var.model
  args   = ["--context-length", "8192"]
}

scenario "chat" {
  server     = [server.vllm, server.sglang]
  api        = "chat"
  max_tokens = 256

  dataset {
    kind          = "synthetic"
    input_tokens  = 512
    output_tokens = 256
    seed          = 1
  }

  load {
    concurrency = [1, 8, 32, 64]
    requests    = 200
    warmup      = 8
  }

  slo {
    ttft = "500ms"
    tpot = "50ms"
  }
}

output "vllm_endpoint" {
  value = server.vllm.endpoint
}
