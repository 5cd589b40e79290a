server "sim" {
  engine = "simulated"
  simulate {
    jitter = 1.5 # ERROR: Invalid value for "jitter"
  }
}
