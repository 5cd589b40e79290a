server "my server" { # ERROR: Invalid name
  engine = "simulated"
}
