variable "requests" {
  type    = number
  default = "lots" # ERROR: Invalid default value for variable
}
