server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim
  dataset {
    kind = "parquet" # ERROR: Invalid value for "kind"
  }
  load {
    concurrency = [1]
    requests    = 10
  }
}
