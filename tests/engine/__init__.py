"""Tests of the engine: `workflow/` (one workflow) and `pipeline/` (many tasks)."""
