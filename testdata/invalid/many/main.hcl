variable "n" {
  type    = number
  default = "x" # ERROR: Invalid default value for variable
}

server "sim" {
  engine = "simulated"
  modle  = "m" # ERROR: Unsupported argument
  simulate {
    itl = "fast" # ERROR: Invalid value for "itl"
  }
}

scenario "chat" {
  server = server.simm # ERROR: Reference to undeclared server
  api    = "rpc" # ERROR: Invalid value for "api"
  dataset {
    kind = "synthetic"
  }
  load {
    concurrency = [0] # ERROR: Invalid value for "concurrency"
    requests    = 10
  }
}
