server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim

  dataset {
    kind = "synthetic"
  }
  load { # ERROR: Argument not valid for this load
    rate       = [5]
    burstiness = 0.5
    requests   = 10
  }
}
