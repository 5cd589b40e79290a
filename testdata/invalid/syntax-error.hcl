server "sim" {
  engine = = "simulated" # ERROR: Invalid expression
}
