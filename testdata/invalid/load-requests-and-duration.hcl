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
    requests    = 10
    duration    = "1m"
  }
}
