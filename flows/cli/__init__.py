"""The ``udc`` command line, one module per audience: ``engineer`` (init, generate, run,
demo, serve), ``steward`` (quality), ``privacy`` (purposes, log, report, marts audit and
unpublish) and ``analyst`` (marts list and show, query, dashboard build and serve).
``common`` holds what they share.
Importing the modules registers their commands on ``app``.
"""

# The order of registration is the order of `udc --help`.
# isort: off
from udc.flows.cli import engineer, steward, analyst, privacy

# isort: on
from udc.flows.cli.common import app

__all__ = ["analyst", "app", "engineer", "privacy", "steward"]
