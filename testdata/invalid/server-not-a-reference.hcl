server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = "sim" # ERROR: Invalid reference
  dataset {
    kind = "synthetic"
  }
  load {
    concurrency = [1]
    requests    = 10
  }
}
