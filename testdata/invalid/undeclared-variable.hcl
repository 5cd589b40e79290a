server "sim" {
  engine = "simulated"
  model  = var.model # ERROR: Reference to undeclared input variable
}
