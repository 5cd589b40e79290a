server "vllm" { # ERROR: Missing required argument
  engine = "vllm"
  model  = "Qwen/Qwen2.5-7B-Instruct"
}
