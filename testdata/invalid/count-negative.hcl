server "sim" {
  count  = -1 # ERROR: Invalid count argument
  engine = "simulated"
}
