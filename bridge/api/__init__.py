"""The XUI-compatible admin API: its wiring is setup.py; shapes, catalog and presence are pure."""
