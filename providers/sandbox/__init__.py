"""The sandbox: simulated backends with persisted state, latency and injectable faults (the demo default)."""
