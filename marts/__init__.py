"""Marts (load 2): definitions as configuration, aggregation, disclosure control, publication.

- ``definitions``: ``MartDefinition`` from TOML, ``load_definitions``.
- ``build``: distinct counts over the full grid (``count_mart``) and the wide frame analysts
  read (``assemble_mart``).
- ``primary``: the primary rules (minimum cell size, group disclosure).
- ``protection``: secondary suppression over a whole release with protection intervals,
  helped by ``tables`` (relations, geometry) and ``boxes`` (hypercube certificates).
- ``release``: the marts of one peildatum protected together (``protect_marts``,
  ``build_mart``).
- ``intervals``: LP bounds an attacker derives from published values only; ``audit``: the
  independent disclosure audit over them, and the gate that fails closed.
- ``cellkey``: the cell key method (perturbation instead of suppression).
- ``publish``: ``MartStore``, atomic releases behind a ``current`` symlink.
"""
