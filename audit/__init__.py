"""Audit and replay: re-deciding every recorded decision from what it recorded, and a stream as a readable timeline."""
