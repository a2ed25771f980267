"""Use cases wiring ports together, scheduler, daemon, settings and the CLI."""
