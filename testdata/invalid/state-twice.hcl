state {
  backend = "sqlite"
}

state { # ERROR: Duplicate state block
  backend = "sqlite"
}
