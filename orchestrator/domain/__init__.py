"""The pure domain of ConectaPro: no I/O, no clock, no random ids. The entry points are in
``orchestrator.leads_flow``."""
