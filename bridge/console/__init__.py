"""The operator console: the page at /console/ and its live event stream (GET /api/events)."""
