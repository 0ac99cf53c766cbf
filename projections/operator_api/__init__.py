"""The operator API's pieces: auth, request/response schemas, cursors, read-model queries, routes."""
