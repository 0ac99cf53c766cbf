"""The `conectapro` command line and the composition of the services it runs."""
