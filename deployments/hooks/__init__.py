"""CI/CD webhooks: reading and authenticating a delivery, applying it (pipeline runs, deployments), the webhook
sources that may send them, and their pages."""
