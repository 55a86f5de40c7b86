"""The workers: consumers of the broker's queues (``python -m workers``) and the scheduler."""
