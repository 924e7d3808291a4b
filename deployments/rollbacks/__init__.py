"""Rolling a workload back to an earlier revision (the request, its approval, the workflow that rolls it back) and
the deploy freeze windows that hold it, with their pages."""
