server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim

  dataset {
    kind = "synthetic"
  }
  load { # ERROR: Missing required argument
    requests = 10
  }
}
