"""The catalog (load 0): what came in, what was checked, what was published, and why.

- ``store``: ``Catalog``, the database behind a small object (SQLite by default,
  PostgreSQL by URL), migrated by alembic (``migrations``).
- ``models``: the schema: runs, deliveries, quality results, datasets, lineage, keys.
- ``register``: the register of processing purposes (doelbinding) read from TOML
  (``purposes/``).
- ``processing_log``: the append-only, signed processing log, over ``merkle`` trees.

Nothing here ever holds a BSN.
"""
