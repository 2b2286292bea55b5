"""The steps that combine packages, as plain functions over one workspace; the nightly flow
wires them and tests call them without Prefect.

- ``layout``: the workspace's folders and ``udc.toml``; ``resources``: what a step opens.
- ``ingest``: one delivery from the inbox to the lake (or quarantine).
- ``crosscheck``: the cross-source checks of a run.
- ``publish``: the mart stage: plan, build, protect, audit and publish per release.
- ``retention``: deleting what has expired; ``logbook``: the run's processing log entries.
- ``privacy_report``: the privacy officer's report; ``timing``: stage durations.
"""
