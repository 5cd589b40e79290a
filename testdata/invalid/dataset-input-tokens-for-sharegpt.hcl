server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim

  dataset { # ERROR: Argument not valid for this dataset
    kind         = "sharegpt"
    path         = "sg.json"
    input_tokens = 100
  }
  load {
    concurrency = [1]
    requests    = 10
  }
}
