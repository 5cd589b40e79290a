server "sim" {
  engine = "simulated"
  model  = "m"
  simulate {
    ttft = "10ms"
    itl  = "2ms"
  }
}

scenario "chat" {
  server = server.sim
  dataset { kind = "synthetic" }
  load {
    concurrency = [1, 4, 16]
    requests    = 10
  }
}
