server "sim" {
  count    = 2
  for_each = toset(["a"]) # ERROR: Invalid combination of "count" and "for_each"
  engine   = "simulated"
}
