server "sim" {
  engine = "simulated"
}

scenario "chat" {
  server = server.sim[0] # ERROR: Unexpected instance key
  dataset {
    kind    = "prompts"
    prompts = ["hi"]
  }
  load {
    concurrency = [1]
    requests    = 1
  }
}
