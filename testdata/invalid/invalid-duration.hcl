server "sim" {
  engine = "simulated"
  simulate {
    ttft = "5 ms" # ERROR: Invalid value for "ttft"
  }
}
