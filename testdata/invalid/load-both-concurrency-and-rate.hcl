server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim

  dataset {
    kind = "synthetic"
  }
  load { # ERROR: Conflicting arguments
    concurrency = [1]
    rate        = [5]
    requests    = 10
  }
}
