"""Reads of the servers app, one module per job: show, listing, down_cells, compute_nodes."""
