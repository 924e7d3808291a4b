"""The Azure cloud driver: azure-identity credentials and the azure-mgmt packages behind :mod:`providers.cloud`."""
