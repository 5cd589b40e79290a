server "sim" {
  engine = "simulated"
}

server "sim" { # ERROR: Duplicate server block
  engine = "simulated"
}
