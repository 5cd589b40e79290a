locals {
  a = local.b # ERROR: Dependency cycle
  b = local.c
  c = local.a
}
