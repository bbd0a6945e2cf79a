"""The user interface layer: consoles, progress bars and tables. It imports nothing from the domain."""
