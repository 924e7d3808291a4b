"""The audit log: its verbs and ``record`` (services), the keys that sign its hash chain, the chain's background
verification, and the page that searches, filters and exports it.

Callers write ``from access.audit import services as audit`` and then ``audit.record(audit.TEAM_CHANGED, ...)``.
This module stays empty on purpose: the settings import ``access.audit.keys`` before Django's apps are loaded, and
anything imported here would be imported with it.
"""
