server "sim" {
  engine = "simulated"
  model  = each.key # ERROR: Reference to "each" in a block without for_each
}

server "counted" {
  count  = 2
  engine = "simulated"
  model  = each.value # ERROR: Reference to "each" in a block without for_each
}

server "keyed" {
  for_each = toset(["a"])
  engine   = "simulated"
  model    = "m${count.index}" # ERROR: Reference to "count" in a block without count
}
