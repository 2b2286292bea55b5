"""Sources: what is delivered, how it is read, and the lake it lands in.

- ``contracts``: delivery contracts as TOML configuration (``contracts/``).
- ``inbox``: delivered files in order, their peildatum, names fit for logs.
- ``reader``: one CSV file read by its contract; structurally broken files refused.
- ``ingest``: validated text to typed, minimised, pseudonymised rows.
- ``lake``: load 1, parquet per source and peildatum.
- ``synthetic``: a synthetic city's deliveries, with realistic defects.
"""
