"""udc: a privacy-preserving data pipeline for an Urban Data Center."""
