server "sim" {
  engine = "simulated"
}

scenario "up" {
  server = server.sim
  dataset {
    kind = "synthetic"
  }
  load {
    search { # ERROR: Invalid search range
      from = 32
      max  = 8
    }
    requests = 100
  }
  slo {
    ttft = "100ms"
  }
}

scenario "half" {
  server = server.sim
  dataset {
    kind = "synthetic"
  }
  load {
    search { # ERROR: Invalid search range
      from = 1.5
      max  = 8
    }
    requests = 100
  }
  slo {
    ttft = "100ms"
  }
}
