"""Development tools that production code paths never import.

The local Graph API sandbox (chosen by the composition root in local mode) and the state-table renderer.
"""
