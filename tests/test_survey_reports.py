"""Report files: written, well-formed, self-contained; a headroom chart per room; a safety file per QPU."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from site_survey import load_site, parse_site
from site_survey.provenance import model_hash
from site_survey.reports import write_reports
from site_survey.survey import run_survey

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def national(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("survey")
    site = load_site("national")
    write_reports(run_survey(site), site, out)
    return out


def test_all_files_are_written(national: Path) -> None:
    names = sorted(str(p.relative_to(national)) for p in national.rglob("*") if p.is_file())
    assert names == [
        "safety/ibm_qhall.md", "safety/pasqal_qhall.md", "safety/quandela_lab.md",
        "survey.html", "survey.json", "survey.md",
    ]


def test_html_is_well_formed_with_a_chart_per_loop_feed_and_qpu_room(national: Path) -> None:
    root = ET.parse(national / "survey.html").getroot()  # raises on malformed markup
    charts = {(c.get("data-kind"), c.get("data-subject")): c for c in root.findall(f".//{SVG}svg")}
    site = load_site("national")
    qpu_rooms = {q.room for q in site.qpus if q.room}
    rooms = {s for k, s in charts if k == "room"}
    assert rooms == qpu_rooms and "hpc-hall" not in rooms  # a room without a QPU is not charted
    assert ("water loop", "warm-hpc") not in charts and ("power feed", "hpc-main") not in charts
    shared = charts[("water loop", "cw-quantum")]
    assert shared.get("data-serves") == "qhall-a qhall-b"
    shares = [r.get("data-share") for r in shared.iter(f"{SVG}rect") if r.get("data-share")]
    assert shares == ["ibm_qhall (qhall-a)", "pasqal_qhall (qhall-b)"]
    assert [r for r in shared.iter(f"{SVG}rect") if r.get("fill") == "#b00020"], "the overloaded loop is red"


def test_a_shared_loop_is_charted_once_not_per_room(national: Path) -> None:
    data = json.loads((national / "survey.json").read_text())
    loops = [h for h in data["headroom"] if h["subject"] == "cw-quantum"]
    assert len(loops) == 1
    (bar,) = loops[0]["bars"]
    assert bar["used"] == sum(s["value"] for s in bar["segments"]) and len(bar["segments"]) == 2


def test_html_is_self_contained(national: Path) -> None:
    text = (national / "survey.html").read_text()
    assert "<style>" in text
    for external in ('src="http', "href=\"http", "<link", "<script", "@import"):
        assert external not in text


def test_html_lists_every_finding(national: Path) -> None:
    root = ET.parse(national / "survey.html").getroot()
    rows = [tr for tr in root.iter("tr") if tr.get("class") == "finding"]
    data = json.loads((national / "survey.json").read_text())
    assert len(rows) == len(data["findings"]) == sum(data["counts"].values())
    assert [r.get("data-check") for r in rows if r.get("data-severity") == "blocker"] == ["cooling.capacity"]


def test_markdown_report_shows_blocker_with_source(national: Path) -> None:
    text = (national / "survey.md").read_text()
    assert "**1 blocker(s)" in text
    blocker_section = text.split("## Blockers (1)")[1].split("## Warnings")[0]
    assert "cw-quantum" in blocker_section
    assert "site model override, unsourced (no document given) (high)" in blocker_section
    assert "## Headroom per cooling loop, power feed and room" in text and "## Effective requirements per QPU" in text


@pytest.mark.parametrize("qpu", ["ibm_qhall", "pasqal_qhall", "quandela_lab"])
def test_safety_file_per_qpu_has_every_section(national: Path, qpu: str) -> None:
    text = (national / "safety" / f"{qpu}.md").read_text()
    for heading in ("## Hazards", "## Controls", "## Interlocks and monitoring", "## Emergency stops",
                    "## Emergency procedure", "## Responsible persons and sign-off", "## Acceptance-test evidence"):
        assert heading in text, heading
    assert "reports/national/acceptance/" in text


def test_safety_file_content_follows_the_model(national: Path) -> None:
    sc = (national / "safety" / "ibm_qhall.md").read_text()
    assert "| cryogen_odh |" in sc and "| seismic | heavy unit in seismic zone 2 | yes |" in sc
    assert "2 sensor(s), alarm at 19.5 % vol, starts forced ventilation" in sc
    atoms = (national / "safety" / "pasqal_qhall.md").read_text()
    assert "Laser class 4: interlocked, controlled zone" in atoms
    assert "cryogen_odh" not in atoms


def test_json_findings_carry_id_severity_and_provenance(national: Path) -> None:
    data = json.loads((national / "survey.json").read_text())
    blocker = next(f for f in data["findings"] if f["severity"] == "blocker")
    assert blocker["id"] == "cooling.capacity[qhall-a, qhall-b/cw-quantum]"
    assert blocker["source"].startswith("site model override, unsourced") and blocker["confidence"] == "high"
    assert {b["label"] for r in data["headroom"] for b in r["bars"]} >= {"power", "UPS", "cooling (water)"}


def test_selected_formats_only(tmp_path: Path) -> None:
    site = load_site("national")
    written = write_reports(run_survey(site), site, tmp_path, ("markdown",))
    assert [p.name for p in written] == ["survey.md"]


def test_shared_loop_blocker_is_attributed_to_each_qpu_on_it(national: Path) -> None:
    result = run_survey(load_site("national"))
    assert [f.check for f in result.for_qpu("ibm_qhall") if f.severity.value == "blocker"] == ["cooling.capacity"]
    assert [f.check for f in result.for_qpu("pasqal_qhall") if f.severity.value == "blocker"] == ["cooling.capacity"]
    assert "Survey blockers for this QPU: 1" in (national / "safety" / "pasqal_qhall.md").read_text()
    assert "Survey blockers" not in (national / "safety" / "quandela_lab.md").read_text()


def test_chart_names_qpus_counted_without_a_figure(national: Path) -> None:
    """A bar at 0 % must not read as 'no load' when the load is simply unknown."""
    root = ET.parse(national / "survey.html").getroot()
    qhall_b = next(c for c in root.findall(f".//{SVG}svg") if c.get("data-subject") == "qhall-b")
    floor = next(g for g in qhall_b.iter(f"{SVG}g") if g.get("data-resource") == "floor load (heaviest QPU)")
    label = "".join(floor.itertext())
    assert "no figure: pasqal_qhall" in label


def test_every_report_carries_the_same_provenance_block(national: Path) -> None:
    site = load_site("national")
    data = json.loads((national / "survey.json").read_text())
    block = data["provenance"]
    assert block["model_sha256"] == model_hash(site) and len(block["model_sha256"]) == 64
    assert block["schema_version"] == 1 and block["site"] == "national"
    assert block["generated_at"].endswith("Z") and block["kit_version"]
    for name in ("survey.md", "survey.html"):
        text = (national / name).read_text()
        assert block["model_sha256"] in text and block["generated_at"] in text, name


def test_the_model_hash_follows_content_not_formatting() -> None:
    site = load_site("national")
    again = parse_site(site.model_dump(mode="json"))
    assert model_hash(again) == model_hash(site)
    again.facility.rooms[0].area_m2 += 1
    assert model_hash(again) != model_hash(site)


def test_facility_figures_say_where_they_come_from(national: Path) -> None:
    data = json.loads((national / "survey.json").read_text())
    sourced = [f for f in data["findings"] if f["check"] == "environment.measurement_age" and f["room"] == "qhall-a"]
    assert sourced and all("Magnetic and vibration survey of the quantum halls rev 2" in f["measured_source"]
                           for f in sourced)
    text = (national / "survey.md").read_text()
    assert "facility figure: unsourced" in text and "facility figure: facilities team" in text


def test_emulated_twins_are_marked_and_carry_no_cryostat_figures(tmp_path: Path) -> None:
    site = load_site("lab")
    write_reports(run_survey(site), site, tmp_path, ("markdown",))
    text = (tmp_path / "survey.md").read_text()
    assert "### sc_twin (emulated twin, off site: no facility requirements, network only)" in text
    twin = text.split("### sc_twin")[1].split("###")[0]
    assert "`latency_ms_max`" in twin and "cooling_kw" not in twin and "ups_required" not in twin
