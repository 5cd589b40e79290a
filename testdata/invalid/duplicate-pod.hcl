pod "h100" {
  gpu_type = "NVIDIA H100 80GB HBM3"
}

pod "h100" { # ERROR: Duplicate pod block
  gpu_type = "NVIDIA H100 PCIe"
}
