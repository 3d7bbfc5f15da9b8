"""The records every side shares: states and transitions, jobs and queues, the event chain,
erasure, retention, accounts. Records import neither the public nor the staff side."""
