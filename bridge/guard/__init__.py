"""The registration guard: why a phone cannot register, and who is guessing passwords (docs/guard.md)."""
