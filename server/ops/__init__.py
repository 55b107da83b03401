"""For operators: health (`/healthz`, `/readyz`) and Prometheus metrics (`/metrics`)."""
