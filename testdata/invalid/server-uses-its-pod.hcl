pod "gpu" {
  gpu_type = "NVIDIA H100 80GB HBM3"
}

server "vllm" {
  engine = "vllm"
  pod    = pod.gpu
  model  = "m-${pod.gpu.id}" # ERROR: Reference to the server's own pod
}
