"""The check catalogue. Each module registers its checks into REGISTRY on import;
numbers group them: 01x host state, 02x cluster, 03x quantum runtime and QRMI
configuration, 04x jobs, 05x monitoring, 06x negative drills, 07x benchmarks, 08x the suite's own hygiene."""

from __future__ import annotations

from acceptance.spec import Registry

REGISTRY = Registry()


def load_all() -> Registry:
    """Import every check module (each registers itself once) and return the registry."""
    from acceptance.checks import (  # noqa: F401  (imported for their registrations)
        benchmarks,
        cluster,
        drills,
        explain,
        fairshare,
        host_state,
        hygiene,
        jobs,
        lifecycle,
        monitoring,
        runtime,
        sharing,
    )

    return REGISTRY
