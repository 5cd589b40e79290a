server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim
  dataset {
    kind = "synthetic"
  }
  load {
    concurrency = [1]
    requests    = 10
  }
  telemetry {
    gpu = "nvml" # ERROR: Invalid value for "gpu"
  }
}
