"""What an application calls, behind `supervisor.api`: enqueue, wait, its connection."""
