"""Network: measured latency and bandwidth from the compute nodes to each QPU's access point."""

from __future__ import annotations

from collections.abc import Iterator

from site_survey.survey.context import SurveyContext
from site_survey.survey.findings import Finding, Severity, fmt, from_requirement


def check(ctx: SurveyContext) -> Iterator[Finding]:
    links = ctx.site.facility.network.links
    for qpu in ctx.site.qpus:
        latency, bandwidth = ctx.req(qpu, "latency_ms_max"), ctx.req(qpu, "bandwidth_mbps_min")
        if latency is None and bandwidth is None:
            continue
        measured = [link for link in links if link.to_qpu == qpu.name and link.from_role == "compute"]
        if not measured:
            yield Finding(
                "network.link", Severity.warning, f"no measured link from compute nodes to QPU {qpu.name}",
                room=qpu.room, qpu=qpu.name, measured="not measured",
                required=", ".join(
                    text for text in (
                        f"≤ {fmt(latency.number, 'ms')}" if latency else "",
                        f"≥ {fmt(bandwidth.number, 'Mbit/s')}" if bandwidth else "",
                    ) if text
                ),
                **from_requirement(*(r for r in (latency, bandwidth) if r is not None)),
                hint=(
                    "Measure round-trip latency and bandwidth from a compute node to the QPU's access point and "
                    f"add {{from_role: compute, to_qpu: {qpu.name}, latency_ms: …, bandwidth_mbps: …}} "
                    "to facility.network.links."
                ),
            )
            continue
        if latency is not None:
            worst = max(link.latency_ms for link in measured)
            ok = worst <= latency.number
            yield Finding(
                "network.latency", Severity.info if ok else Severity.warning,
                f"latency compute → {qpu.name}: {fmt(worst, 'ms')} (at most {fmt(latency.number, 'ms')})",
                passed=ok, room=qpu.room, qpu=qpu.name,
                measured=fmt(worst, "ms"), required=f"≤ {fmt(latency.number, 'ms')}",
                **from_requirement(latency),
                hint="" if ok else "Route compute traffic to the access node on a shorter path (same fabric, no VPN).",
            )
        if bandwidth is not None:
            worst = min(link.bandwidth_mbps for link in measured)
            ok = worst >= bandwidth.number
            yield Finding(
                "network.bandwidth", Severity.info if ok else Severity.warning,
                f"bandwidth compute → {qpu.name}: {fmt(worst, 'Mbit/s')} (at least {fmt(bandwidth.number, 'Mbit/s')})",
                passed=ok, room=qpu.room, qpu=qpu.name,
                measured=fmt(worst, "Mbit/s"), required=f"≥ {fmt(bandwidth.number, 'Mbit/s')}",
                **from_requirement(bandwidth),
                hint="" if ok else "Upgrade the link between the compute fabric and the QPU access node.",
            )
