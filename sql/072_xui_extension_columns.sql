-- `secretary_extn` is "" in every example of the XUI document, where its column table says
-- DEFAULT 0 (bridge/xui/columns.py). Changes the default of new rows only: no stored value
-- changes, so this is safe on an existing XUI database.
ALTER TABLE extensions ALTER COLUMN secretary_extn SET DEFAULT '';
