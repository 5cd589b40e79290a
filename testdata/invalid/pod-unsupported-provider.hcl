pod "gpu" {
  provider = "lambda" # ERROR: Unsupported provider
}
