"""Shape functions by family; see registry.py."""
