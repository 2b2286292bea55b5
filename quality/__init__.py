"""Data quality: expectation suites from contracts, validation, cross-source checks and
the reports that go back to sources (terugmelding).

- ``suites``: Great Expectations suites generated from a delivery contract.
- ``validate``: one delivery against its suite; row-level failures without the values.
- ``crosscheck``: do a source's pseudonyms occur in a reference source?
- ``feedback``: the feedback report per delivery, for the source (HTML and CSV, Dutch).
- ``internal_report``: the cross-checks' report, for the data steward only.
"""
