output "x" {
  value = scenario.chat # ERROR: Invalid reference
}
