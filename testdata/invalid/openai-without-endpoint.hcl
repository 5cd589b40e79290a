server "api" { # ERROR: Missing required argument
  engine = "openai"
  model  = "gpt"
}
