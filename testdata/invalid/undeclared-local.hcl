server "sim" {
  engine = "simulated"
  model  = local.model # ERROR: Reference to undeclared local value
}
