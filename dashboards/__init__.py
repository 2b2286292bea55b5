"""Dashboards: a static site of maps, charts and tables, built from the published marts
alone (their parquet and metadata), never from the lake."""
