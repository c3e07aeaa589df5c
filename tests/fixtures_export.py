"""pytest fixtures: export stage (filled in by the owner of that stage)."""
