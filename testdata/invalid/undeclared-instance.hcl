server "llm" {
  for_each = toset(["vllm", "sglang"])
  engine   = "simulated"
}

scenario "chat" {
  server = server.llm["tgi"] # ERROR: Reference to undeclared instance
  dataset {
    kind    = "prompts"
    prompts = ["hi"]
  }
  load {
    concurrency = [1]
    requests    = 1
  }
}
