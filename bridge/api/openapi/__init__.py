"""The OpenAPI 3 document of the admin API: document.py assembles it, one module per group of paths."""
