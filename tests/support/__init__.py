"""Helpers every test package shares: polling with a deadline, reading metric samples."""
