server "sim" {
  engine = "simulated"
}

scenario "capacity" {
  server = server.sim
  dataset {
    kind = "synthetic"
  }
  load {
    search { # ERROR: Missing slo block
      max = 64
    }
    requests = 100
  }
}
