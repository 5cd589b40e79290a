server "sim" { # ERROR: Missing required argument
  model = "m"
}
