server "sim" {
  engine = "simulated"
}

server "more" {
  count  = length(server.sim.args) # ERROR: Invalid count argument
  engine = "simulated"
}
