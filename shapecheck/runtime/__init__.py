"""Runtime half: decorator, tracer, dry run, pytest plugin. Imports torch lazily."""
