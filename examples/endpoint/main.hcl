# Benchmark an OpenAI-compatible server that already runs, such as
#
#   vllm serve Qwen/Qwen2.5-0.5B-Instruct --port 8000
#
# then:
#
#   benchform apply -var model=Qwen/Qwen2.5-0.5B-Instruct examples/endpoint
#
# benchform only reads the endpoint: apply checks that it answers and serves
# the model, destroy forgets it.

variable "endpoint" {
  type    = string
  default = "http://localhost:8000"
}

variable "model" {
  type        = string
  description = "The model the server serves, as /v1/models lists it."
}

variable "api_key" {
  type      = string
  default   = ""
  sensitive = true
}

server "local_vllm" {
  engine   = "vllm"
  endpoint = var.endpoint
  model    = var.model
  api_key  = var.api_key
}

scenario "chat" {
  server     = server.local_vllm
  api        = "chat"
  max_tokens = 128

  dataset {
    kind          = "synthetic"
    input_tokens  = 512
    output_tokens = 128
    seed          = 1
  }

  load {
    concurrency = [1, 8, 32]
    requests    = 100
    warmup      = 4
  }

  slo {
    ttft = "500ms"
    tpot = "50ms"
  }
}

output "endpoint" {
  value = server.local_vllm.endpoint
}
