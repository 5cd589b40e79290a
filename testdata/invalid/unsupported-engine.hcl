server "triton" {
  engine = "triton" # ERROR: Unsupported engine
}
