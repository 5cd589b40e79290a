pod "gpu" {
  gpu_type = "NVIDIA H100 80GB HBM3"
}

server "vllm" {
  engine = "vllm"
  pod    = pod.gpu
  model  = "m"
}

server "sglang" {
  engine = "sglang"
  pod    = pod.gpu # ERROR: One server per pod
  model  = "m"
}
