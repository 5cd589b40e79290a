server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim

  dataset { # ERROR: Missing required argument
    kind = "jsonl"
  }
  load {
    concurrency = [1]
    requests    = 10
  }
}
