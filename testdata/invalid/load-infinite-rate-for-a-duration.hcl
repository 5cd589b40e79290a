server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim

  dataset {
    kind = "synthetic"
  }
  load { # ERROR: Invalid value for "rate"
    rate     = ["inf"]
    duration = "30s"
  }
}
