server "sim" {
  engine = "simulated"
}

server "vllm" {
  engine = "vllm"
  pod    = server.sim # ERROR: Invalid reference
  model  = "m"
}
