server "a" {
  engine = "simulated"
}

server "b" {
  engine = server.a.model # ERROR: Value not known while loading
}
