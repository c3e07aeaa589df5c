"""pytest fixtures: data stage (filled in by the owner of that stage)."""
