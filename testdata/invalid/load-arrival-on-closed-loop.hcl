server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim

  dataset {
    kind = "synthetic"
  }
  load { # ERROR: Argument not valid for this load
    concurrency = [4]
    arrival     = "poisson"
    requests    = 10
  }
}
