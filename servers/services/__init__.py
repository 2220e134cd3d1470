"""Writes of the servers app, one module per job: create, lifecycle (update, delete), compute_nodes."""
