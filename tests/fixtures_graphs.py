"""pytest fixtures: graphs stage (filled in by the owner of that stage)."""
