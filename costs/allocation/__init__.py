"""Kubernetes cost allocation: clusters' costs shared out to namespaces, teams and services by usage."""
