"""Which services exist, in start order, and the builder of each (its bootstrap; see ``infra.runtime``)."""

from infra.runtime import register

register("ingress", "ingress.service:build")
register("orchestrator", "orchestrator.service:build")
# The sender's builder here is the composition root's: it picks the local Graph API sandbox in local mode.
register("sender", "conectapro.local_mode:build_sender")
register("closer", "closer.service:build")
register("projections", "projections.service:build")
register("operator_api", "projections.operator_api.service:build")
