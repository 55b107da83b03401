"""How things are drawn: the template environment and its filters, and how a job is drawn on
each kind of page (a `Flavour` each for the hub)."""
