server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim

  dataset {
    kind = "synthetic"
  }
  load {
    rate     = [5, 0] # ERROR: Invalid value for "rate"
    requests = 10
  }
}
