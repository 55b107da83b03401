"""Background jobs: the pure model and throttle, their Redis store, events and the context."""
