"""pytest fixtures: model stage (filled in by the owner of that stage)."""
