"""Shared infrastructure every service uses.

Settings, logging, JetStream topology, embedded servers, the HTTP server, the event loop and the runtime
a service runs in. It imports no service: dependencies point from the services to it.
"""
