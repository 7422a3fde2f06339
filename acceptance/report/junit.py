"""JUnit XML: one testsuite per component, one testcase per check instance. Suites with
failures come first and cases are ordered failures first; each suite carries the run's
provenance and each QPU's kind (real or emulated twin) as properties, the one place
the JUnit schema has for them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from acceptance.report import overview
from acceptance.results import CheckResult, RunRecord
from acceptance.spec import Status


def _properties(record: RunRecord) -> list[tuple[str, str]]:
    out = []
    if record.provenance is not None:
        out += [(f"provenance.{k}", str(v)) for k, v in record.provenance.as_dict().items()]
    out += [(f"qpu.{q.qpu}", q.kind) for q in record.qpus]
    return out


def render(record: RunRecord) -> str:
    by_component: dict[str, list[CheckResult]] = defaultdict(list)
    for r in overview.ordered(record.results):
        by_component[r.component].append(r)
    properties = _properties(record)
    root = ET.Element(
        "testsuites", name=f"qpusite acceptance {record.site} ({record.tier})",
        tests=str(len(record.results)), failures=str(sum(r.status == Status.failed for r in record.results)),
        errors=str(sum(r.status == Status.missing for r in record.results)),
        skipped=str(sum(r.status == Status.skipped for r in record.results)),
        time=f"{sum(r.duration_s for r in record.results):.3f}", timestamp=record.started,
    )
    for component, results in sorted(by_component.items(), key=lambda item: overview.STATUS_ORDER[item[1][0].status]):
        suite = ET.SubElement(
            root, "testsuite", name=component, tests=str(len(results)),
            failures=str(sum(r.status == Status.failed for r in results)),
            errors=str(sum(r.status == Status.missing for r in results)),
            skipped=str(sum(r.status == Status.skipped for r in results)),
            time=f"{sum(r.duration_s for r in results):.3f}", timestamp=record.started,
        )
        if properties:
            props = ET.SubElement(suite, "properties")
            for name, value in properties:
                ET.SubElement(props, "property", name=name, value=value)
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=f"{record.site}.{component}", name=r.id,
                                 time=f"{r.duration_s:.3f}")
            if r.status == Status.failed:
                ET.SubElement(case, "failure", message=r.message, type="failed").text = r.log
            elif r.status == Status.missing:
                # A missing component is an error of the deployment, not a wrong value.
                ET.SubElement(case, "error", message=r.message, type="missing component").text = r.log
            elif r.status == Status.skipped:
                ET.SubElement(case, "skipped", message=r.message)
            else:
                ET.SubElement(case, "system-out").text = r.message + ("\n" + r.log if r.log else "")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
