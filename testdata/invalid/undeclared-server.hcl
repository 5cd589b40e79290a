server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.simm # ERROR: Reference to undeclared server
  dataset {
    kind = "synthetic"
  }
  load {
    concurrency = [1]
    requests    = 10
  }
}
