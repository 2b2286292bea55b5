"""DuckDB macros that mart queries share, so every mart derives age bands and months alike.

Available in every measure query:

- ``peildatum()``: the reference date of the build (DATE).
- ``leeftijd(geboortedatum, datum)``: age in whole years on ``datum`` from a BRP date text
  ``YYYYMMDD``; NULL when the year is unknown (``0000``) or the text is not 8 digits.
  An unknown month (``00``) counts as 1 July, the middle of the year; an unknown day
  (``00``) as the 15th, the middle of the month. Both halve the worst-case error.
- ``leeftijdsklasse(geboortedatum, datum)``: CBS bands ``0-14``, ``15-24``, ``25-44``,
  ``45-64``, ``65+``; ``onbekend`` when the age is unknown or negative.
- ``maand(datum)``: ``YYYY-MM``.
- ``lopend_op(ingangsdatum, einddatum, datum)``: true when a provision runs on ``datum``
  (started on or before it, and no end date or ending on or after it).
- ``in_volle_maanden(datum, n)``: true when ``datum`` lies in the last ``n`` calendar
  months that are complete on the peildatum (its own month when it is the month's last
  day). A month of one day would be a column of small cells, all hidden.
"""

from __future__ import annotations

from datetime import date

AGE_BANDS: tuple[str, ...] = ("0-14", "15-24", "25-44", "45-64", "65+")

_MACROS: tuple[str, ...] = (
    """CREATE MACRO brp_maand(g) AS
        CASE WHEN substr(g, 5, 2) = '00' THEN 7 ELSE TRY_CAST(substr(g, 5, 2) AS INTEGER) END""",
    """CREATE MACRO brp_dag(g) AS
        CASE WHEN substr(g, 5, 2) = '00' THEN 1
             WHEN substr(g, 7, 2) = '00' THEN 15
             ELSE TRY_CAST(substr(g, 7, 2) AS INTEGER) END""",
    """CREATE MACRO leeftijd(g, d) AS
        CASE WHEN g IS NULL OR NOT regexp_full_match(g, '[0-9]{8}') OR substr(g, 1, 4) = '0000'
             THEN NULL
             ELSE year(d) - CAST(substr(g, 1, 4) AS INTEGER)
                  - CASE WHEN month(d) * 100 + day(d) < brp_maand(g) * 100 + brp_dag(g)
                         THEN 1 ELSE 0 END
        END""",
    """CREATE MACRO leeftijdsklasse(g, d) AS
        CASE WHEN leeftijd(g, d) IS NULL OR leeftijd(g, d) < 0 THEN 'onbekend'
             WHEN leeftijd(g, d) < 15 THEN '0-14'
             WHEN leeftijd(g, d) < 25 THEN '15-24'
             WHEN leeftijd(g, d) < 45 THEN '25-44'
             WHEN leeftijd(g, d) < 65 THEN '45-64'
             ELSE '65+' END""",
    "CREATE MACRO maand(d) AS strftime(d, '%Y-%m')",
    """CREATE MACRO lopend_op(ingang, einde, d) AS
        ingang <= d AND (einde IS NULL OR einde >= d)""",
    """CREATE MACRO in_volle_maanden(d, n) AS
        d < CAST(date_trunc('month', peildatum() + INTERVAL 1 DAY) AS DATE)
        AND d >= CAST(date_trunc('month', peildatum() + INTERVAL 1 DAY) - to_months(n) AS DATE)""",
)


def macro_statements(peildatum: date) -> tuple[str, ...]:
    """The CREATE MACRO statements for a connection that builds marts for ``peildatum``."""
    return (f"CREATE MACRO peildatum() AS DATE '{peildatum.isoformat()}'", *_MACROS)
