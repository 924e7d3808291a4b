"""Failing a region over to its DR partner: the request, its approval, the workflow that promotes the replica,
and its pages."""
