server "api" {
  engine   = "openai"
  endpoint = "localhost:8000" # ERROR: Invalid value for "endpoint"
}
