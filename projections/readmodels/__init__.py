"""One module per read model: its row type, its table, and the pure ``evolve`` that folds events into it."""
