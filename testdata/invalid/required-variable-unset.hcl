variable "model" { # ERROR: No value for required variable
  type = string
}
