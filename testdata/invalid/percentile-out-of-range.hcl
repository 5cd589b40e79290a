server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server      = server.sim
  percentiles = [50, 101] # ERROR: Invalid value for "percentiles"
  dataset {
    kind = "synthetic"
  }
  load {
    concurrency = [1]
    requests    = 10
  }
}
