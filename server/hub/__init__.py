"""The WebSocket hub: Redis pub/sub fanned out to each web process's sockets (fanout.py)."""
