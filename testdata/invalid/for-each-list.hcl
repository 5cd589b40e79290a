server "sim" {
  for_each = ["a", "b"] # ERROR: Invalid for_each argument
  engine   = "simulated"
}
