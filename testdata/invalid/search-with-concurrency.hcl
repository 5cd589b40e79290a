server "sim" {
  engine = "simulated"
}

scenario "capacity" {
  server = server.sim
  dataset {
    kind = "synthetic"
  }
  load { # ERROR: Conflicting arguments
    concurrency = [1, 2]
    search {
      max = 64
    }
    requests = 100
  }
  slo {
    ttft = "100ms"
  }
}
