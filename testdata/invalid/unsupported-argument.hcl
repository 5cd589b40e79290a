server "sim" {
  engine = "simulated"
  modle  = "m" # ERROR: Unsupported argument
}
