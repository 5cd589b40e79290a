server "vllm" {
  engine   = "vllm"
  endpoint = "http://localhost:8000"
  simulate { # ERROR: Block not valid for this engine
    ttft = "10ms"
  }
}
