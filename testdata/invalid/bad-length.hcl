server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim

  dataset {
    kind         = "synthetic"
    input_tokens = { min = 100, mean = 5 } # ERROR: Invalid value for "input_tokens"
  }
  load {
    concurrency = [1]
    requests    = 10
  }
}
