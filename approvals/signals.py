"""``decided`` is sent, inside the deciding transaction, when a request is approved or rejected.

The subject's app listens for its ``purpose`` and acts (start provisioning,
mark the request refused); anything it starts should be enqueued with
``transaction.on_commit``.
"""

from django.dispatch import Signal

# sender=ApprovalRequest, request=<ApprovalRequest>, approved=<bool>, by=<User: whose verdict settled it, as they
# signed in: an API token's limits travel with them>
decided = Signal()
