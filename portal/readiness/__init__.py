"""Payment requirements and holds: whether each invoice may be paid now, and why not."""
