server "sim" {
  engine   = "simulated"
  endpoint = "http://localhost:8000" # ERROR: Argument not valid for this engine
}
