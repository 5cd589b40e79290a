server "sim" {
  engine = "simulated"
}

state { # ERROR: Invalid state block
  backend = "postgres"
}
