server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim
  dataset {
    kind = "synthetic"
  }
  load {
    concurrency = [1, 0] # ERROR: Invalid value for "concurrency"
    requests    = 10
  }
}
