"""Fixes as libcst codemods."""
