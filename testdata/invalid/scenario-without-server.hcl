scenario "chat" { # ERROR: Missing required argument
  dataset {
    kind = "synthetic"
  }
  load {
    concurrency = [1]
    requests    = 10
  }
}
