server "sim" {
  engine = "simulated"
  model  = upperr("m") # ERROR: Call to unknown function
}
