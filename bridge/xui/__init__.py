"""The XUI tables, declared once: columns, their kinds, defaults and ranges."""
