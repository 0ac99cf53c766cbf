"""Which services exist, in start order, and the builder of each (its bootstrap; see ``infra.runtime``)."""

from __future__ import annotations

from infra.runtime import SERVICES, register
from infra.settings import Settings

register("ingress", "ingress.service:build")
register("orchestrator", "orchestrator.service:build")
# The sender's builder here is the composition root's: it picks the local Graph API sandbox in local mode.
register("sender", "conectapro.local_mode:build_sender")
register("closer", "closer.service:build")
register("projections", "projections.service:build")
register("operator_api", "conectapro.local_mode:build_operator_api")
register("llm_adapter", "conectapro.llm_adapter_service:build")


def _llm_enabled(settings: Settings) -> bool:
    return settings.llm_enabled


#: Services `conectapro run` without names starts only when their setting turns them on
#: (`conectapro run NAME` starts one whatever the setting).
OPTIONAL_SERVICES = {"llm_adapter": _llm_enabled}


def default_services(settings: Settings) -> list[str]:
    return [name for name in SERVICES if OPTIONAL_SERVICES.get(name, lambda _: True)(settings)]


def processes(chosen: list[str], settings: Settings) -> list[str]:
    """One entry per process `conectapro run` supervises: the ingress as many times as ``INGRESS_WORKERS``
    (its processes share the port), every other service once."""
    return [copy for name in chosen for copy in [name] * (settings.ingress_workers if name == "ingress" else 1)]


def describe(chosen: list[str]) -> str:
    """"ingress ×2, orchestrator, ...": the services of a run, with how many processes each has."""
    names = dict.fromkeys(chosen)
    return ", ".join(name if chosen.count(name) == 1 else f"{name} ×{chosen.count(name)}" for name in names)
