"""Read models: projections of the event log into their own ``view_`` tables (rebuildable)."""
