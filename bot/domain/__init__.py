"""Pure domain logic. Nothing here may import an I/O library (a test enforces it)."""
