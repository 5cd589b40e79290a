pod "gpu" {
  gpu_type = "NVIDIA H100 80GB HBM3"
}

server "vllm" {
  engine     = "vllm"
  pod        = pod.gpu
  model      = "m"
  executable = "/opt/vllm" # ERROR: Argument not valid for this engine
}
