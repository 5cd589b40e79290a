# Qwen2.5-7B served by vLLM and by SGLang on an H100 each, compared at
# concurrency 1 to 64. One more entry in var.gpus adds a pod per engine on
# another GPU type. Needs a RunPod API key and, for gated models, a Hugging
# Face token:
#
#   export RUNPOD_API_KEY=...   HF_TOKEN=...
#   benchform plan examples/runpod
#   benchform apply examples/runpod
#   benchform destroy examples/runpod
#
#   benchform plan -var 'gpus={h100=["NVIDIA H100 80GB HBM3"], l40s=["NVIDIA L40S"]}' examples/runpod
#
# The pods cost money from the moment apply creates them. Each is
# destroyed as soon as the scenario has finished with the server on it
# (destroy_after_use), and ttl bounds its life to three hours whatever
# happens; the plan says the most they can cost.

variable "model" {
  type    = string
  default = "Qwen/Qwen2.5-7B-Instruct"
}

variable "gpus" {
  description = "The GPU types to compare, by a short name; each is a list RunPod may choose from."
  type        = map(list(string))
  default = {
    h100 = ["NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"]
  }
}

locals {
  engines = {
    vllm   = ["--max-model-len", "8192", "--enable-prefix-caching"]
    sglang = ["--context-length", "8192"]
  }
  # One pod, and one server on it, per GPU type and engine: "h100-vllm",
  # "h100-sglang", ...
  matrix = merge([
    for gpu, types in var.gpus : {
      for engine, args in local.engines : "${gpu}-${engine}" => { gpu_type = types, engine = engine, args = args }
    }
  ]...)
}

provider "runpod" {
  cloud_type = "SECURE"
}

pod "gpu" {
  for_each          = local.matrix
  gpu_type          = each.value.gpu_type
  gpu_count         = 1
  container_disk_gb = 60
  env               = { HF_TOKEN = env("HF_TOKEN") }
  ttl               = "3h"
  destroy_after_use = true
}

server "llm" {
  for_each = local.matrix
  engine   = each.value.engine
  pod      = pod.gpu[each.key]
  model    = var.model
  args     = each.value.args
}

scenario "chat" {
  server     = values(server.llm)
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

output "endpoints" {
  value = { for name, server in server.llm : name => server.endpoint }
}
