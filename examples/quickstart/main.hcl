# The quickstart runs against benchform's built-in simulated server: no GPU,
# no account, no network. Try it with:
#
#   go run . apply -auto-approve examples/quickstart

variable "model" {
  type        = string
  default     = "simulated-llama"
  description = "The model name the simulated server serves."
}

server "sim" {
  engine = "simulated"
  model  = var.model

  simulate {
    ttft         = "20ms"
    itl          = "3ms"
    jitter       = 0.1
    max_num_seqs = 8
    itl_per_seq  = "200us"
    seed         = 1
  }
}

scenario "chat" {
  server     = server.sim
  api        = "chat"
  max_tokens = 32

  dataset {
    kind          = "synthetic"
    input_tokens  = 256
    output_tokens = 32
    seed          = 1
  }

  load {
    concurrency = [1, 4, 16]
    requests    = 32
    warmup      = 4
  }

  slo {
    ttft = "100ms"
    tpot = "5ms"
  }

  # The simulator exposes vLLM's Prometheus metrics; sample them often, as
  # the quickstart's steps are short.
  telemetry {
    server_metrics  = true
    server_interval = "100ms"
  }
}

output "model" {
  value = server.sim.model
}
