"""A workload's Kubernetes panel: its pods, their events and their containers' last log lines, read from the
cluster on demand, and its pages."""
