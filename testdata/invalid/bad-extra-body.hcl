server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim
  extra_body = ["temperature"] # ERROR: Invalid value for "extra_body"
  dataset {
    kind = "synthetic"
  }
  load {
    concurrency = [1]
    requests    = 10
  }
}
