server "tgi" {
  engine = "tgi" # ERROR: Unsupported engine
}
