"""The board's HTTP routes, one module per audience."""
