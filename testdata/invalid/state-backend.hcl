server "sim" {
  engine = "simulated"
}

state {
  backend = "mysql" # ERROR: Invalid state block
}
