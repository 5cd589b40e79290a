server "sim" {
  engine = "simulated"
}

state {
  backend = "postgres"
  conn    = server.sim.endpoint # ERROR: Invalid reference
}
