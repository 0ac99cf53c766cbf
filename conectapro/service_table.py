"""Which services exist, in start order. Kept apart from services.py so that file stays generic."""

from conectapro.services import register

register("ingress", "ingress.service:serve")
register("orchestrator", "orchestrator.service:serve")
register("sender", "orchestrator.sender_service:serve")
register("closer", "closer.service:serve")
register("projections", "projections.service:serve")
register("operator_api", "projections.api_service:serve")
