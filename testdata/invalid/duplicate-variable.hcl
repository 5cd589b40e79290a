variable "model" {
  default = "a"
}

variable "model" { # ERROR: Duplicate variable block
  default = "b"
}
