"""``run_finished`` is sent, inside the transaction that ends it, when a workflow run succeeds, fails or is cancelled.

The app whose subject the run belongs to listens (in its ``receivers.py``) for
the run's ``kind`` and moves its subject on: a workflow definition never
imports its app's services back. A receiver that raises does not undo the
run's end (the engine logs it and notes it on the run).
"""

from django.dispatch import Signal

# sender=Run, run=<Run>
run_finished = Signal()
