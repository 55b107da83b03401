"""What many tests share: the app served by uvicorn in a thread, a WebSocket opened by hand,
waiting for a condition, and factories for jobs and signed-in people."""
