server "sim" {
  engine = "simulated"
  simulate {
    reasoning_tokens = -8 # ERROR: Invalid value for "reasoning_tokens"
  }
}
