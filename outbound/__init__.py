"""The outbound sender: follows the event store and turns each queued reply into a Graph API call.

Throughput limits, retries and the mapping of WhatsApp's send errors live here too.
"""
