server "vllm" {
  engine = "vllm"
  pod    = pod.gpu # ERROR: Reference to undeclared pod
  model  = "m"
}
