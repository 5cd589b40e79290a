server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server     = server.sim
  max_tokens = "many" # ERROR: Incorrect attribute value type
  dataset {
    kind = "synthetic"
  }
  load {
    concurrency = [1]
    requests    = 10
  }
}
