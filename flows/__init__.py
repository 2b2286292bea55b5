"""Wiring only: the Prefect flow and its tasks (``nightly``), the temporary Prefect server
(``server``) and the command line (``cli``, one module per audience). Every rule lives in
the domain packages and ``udc.workspace``; nothing imports ``udc.flows``.
"""
