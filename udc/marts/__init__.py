"""Marts (load 2): definitions as configuration, aggregation, disclosure control, publication.

- ``definitions``: ``MartDefinition`` from TOML, ``load_definitions``, ``columns_needed``.
- ``build``: ``build_mart`` (distinct counts over the full grid, protected) and ``audit_mart``.
- ``disclosure``: primary and secondary suppression, ``check_table`` (the independent audit);
  helped by ``tables`` (relations, geometry), ``nullspace`` and ``boxes``.
- ``publish``: ``MartStore``, atomic releases behind a ``current`` symlink.
"""
