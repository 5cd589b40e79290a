server "sim" {
  engine = "simulated"
  model  = model.name # ERROR: Invalid reference
}
