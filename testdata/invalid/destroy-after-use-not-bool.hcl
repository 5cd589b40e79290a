pod "gpu" {
  gpu_type          = ["NVIDIA H100 80GB HBM3"]
  destroy_after_use = "yes please" # ERROR: Invalid value for "destroy_after_use"
}
