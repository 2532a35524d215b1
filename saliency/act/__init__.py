"""Acting on an explanation: flip (token swaps), reduce (input reduction), prototype; their shared editor."""
