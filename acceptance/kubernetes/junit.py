"""JUnit XML for the Kubernetes checks (CI dashboards read it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - we only write XML
from pathlib import Path

from acceptance.kubernetes.checks import KubeCheckResult


def write_junit(results: list[KubeCheckResult], site: str, path: Path) -> None:
    suite = ET.Element(
        "testsuite",
        name=f"kubernetes[{site}]",
        tests=str(len(results)),
        failures=str(sum(r.status == "failed" for r in results)),
        skipped=str(sum(r.status == "skipped" for r in results)),
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"acceptance.kubernetes.{site}", name=r.check_id)
        if r.status == "failed":
            ET.SubElement(case, "failure", message=r.message)
        elif r.status == "skipped":
            ET.SubElement(case, "skipped", message=r.message)
        else:
            ET.SubElement(case, "system-out").text = r.message
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
