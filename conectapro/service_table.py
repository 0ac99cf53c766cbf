"""Which services exist, in start order. Kept apart from services.py so that file stays generic."""

from infra.runtime import register

register("ingress", "ingress.service:serve")
register("orchestrator", "orchestrator.service:serve")
register("sender", "outbound.service:serve")
register("closer", "closer.service:serve")
register("projections", "projections.service:serve")
register("operator_api", "projections.operator_api.service:serve")
