server "vllm" {
  engine   = "vllm"
  endpoint = "http://localhost:8000"
  args     = ["--max-model-len", "4096"] # ERROR: Argument not valid for this engine
}
