"""The sandbox: simulated backends for demos and tests, with persisted state shared between processes."""
