"""The XUI-compatible admin API."""
