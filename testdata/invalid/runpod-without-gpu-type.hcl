pod "gpu" { # ERROR: Missing required argument
  provider  = "runpod"
  gpu_count = 1
}
