"""Drivers for everything outside the portal: AWS, Azure, Kubernetes and the sandbox.

Only this package imports boto3, azure-* or kubernetes. Drivers take and
return plain typed values (dataclasses in :mod:`providers.cluster` and
:mod:`providers.cloud`), raise the typed errors of :mod:`providers.errors`,
and import nothing from the portal's apps, so every implementation can pass
the same contract test suite.
"""
