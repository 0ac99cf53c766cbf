"""The read side: pure projectors (event → read-model rows), their checkpointed runners, the rebuild, and
the operator API that serves the rows.

Layout:
  ``envelope`` / ``table`` / ``projector``  the small framework: what a projector sees, how rows are stored
  ``readmodels/``                           one module per read model (pure ``evolve`` functions)
  ``catalog``                               the projections by name (the unit of checkpoint and rebuild)
  ``batch``                                 load → fold (pure) → upsert, inside the caller's transaction
  ``runner`` / ``service``                  live: one durable subscription per projection
  ``rebuild`` / ``lag``                     from zero with a progress bar; how far behind each one is
  ``operator_api/``                         the operator API (FastAPI): ``app`` and the ``service`` that serves
                                            it, auth, schemas, queries, timeline, cursors, one module of routes
                                            per resource, and the operator actions on technicians
"""
