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
        "safety/photonics-lab.html", "safety/photonics-lab.md", "safety/qhall-a.html", "safety/qhall-a.md",
        "safety/qhall-b.html", "safety/qhall-b.md", "survey.html", "survey.json", "survey.md",
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


ROOM_SECTIONS = (
    "## 1. Scope", "## 2. Open items from the survey", "## 3. Hazard register and risk ratings",
    "## 4. Quantities and the worst-case oxygen concentration", "## 5. Pressure reliefs", "## 6. Lasers",
    "## 7. Controls", "## 8. Interlocks and monitoring", "## 9. Inspection schedule", "## 10. Emergency stops",
    "## 11. Emergency procedure", "## 12. Emergency numbers and people to call",
    "## 13. Responsible persons and sign-off", "## 14. Acceptance-test evidence", "## Annexes: QPUs in this room",
)


@pytest.mark.parametrize("room", ["qhall-a", "qhall-b", "photonics-lab"])
def test_safety_file_per_room_has_every_section_and_document_control(national: Path, room: str) -> None:
    text = (national / "safety" / f"{room}.md").read_text()
    for heading in ROOM_SECTIONS:
        assert heading in text, heading
    site = load_site("national")
    assert f"| document id | `QPS-SF-national-{room}` |" in text
    assert f"| model sha256 | `{model_hash(site)}` |" in text and "| revision | 1 (draft) |" in text
    assert "reports/national/acceptance/" in text


def test_safety_file_content_follows_the_model(national: Path) -> None:
    sc = (national / "safety" / "qhall-a.md").read_text()
    assert "| cryogen_odh |" in sc and "| seismic | heavy unit in seismic zone 2 | yes |" in sc
    assert "2 sensor(s), alarm at 19.5 % vol, starts forced ventilation" in sc
    assert "L3 × S5 = 15 (very high) | L1 × S5 = 5 (medium) |" in sc  # cryogen_odh before/after
    assert "20.9 × (252 − 34) / 252 = **18.08%**" in sc and "oxygen-deficiency-hazard zone" in sc
    assert "**cryogen_odh** (site procedure):" in sc and "Call site security on 4444" in sc
    assert "**pressurised_gas** (generic starting point" in sc
    assert "- vendor: IBM field service engineering" in sc and "- site security (24 h): 4444" in sc
    atoms = (national / "safety" / "qhall-b.md").read_text()
    assert "| Rydberg and trapping lasers | 4 | 1064 nm | 10 W | 1800 m |" in atoms
    assert "cryogen_odh" not in atoms
    photonics = (national / "safety" / "photonics-lab.md").read_text()
    assert "not an oxygen-deficiency zone" in photonics


def test_missing_items_are_printed_as_not_provided(tmp_path: Path) -> None:
    doc = load_site("national").model_dump(mode="json")
    doc["facility"]["safety"].update(rooms=[], emergency_numbers=[], inspections=[], pressure_reliefs=[])
    site = parse_site(doc)
    write_reports(run_survey(site), site, tmp_path, ("safety",))
    text = (tmp_path / "safety" / "qhall-a.md").read_text()
    for missing in ("- emergency numbers: *not provided*", "Escape routes:\n\n- *not provided*",
                    "Training required:\n\n- *not provided*", "- vendor contact: *not provided*"):
        assert missing in text, missing


def test_printable_html_is_well_formed_and_shows_model_markup_as_text(tmp_path: Path) -> None:
    doc = load_site("national").model_dump(mode="json")
    doc["facility"]["safety"]["hazards"][0]["description"] = "<script>alert(1)</script> helium"
    site = parse_site(doc)
    write_reports(run_survey(site), site, tmp_path, ("safety",))
    html = (tmp_path / "safety" / "qhall-a.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    root = ET.fromstring(html.replace("<!DOCTYPE html>", ""))
    assert root.find(".//table") is not None and "@page" in html


def test_a_signed_room_file_shows_as_changed_when_its_model_changes(tmp_path: Path) -> None:
    from site_survey.survey.context import SurveyContext
    from site_survey.survey.safety_doc import document_hash

    doc = load_site("national").model_dump(mode="json")
    site = parse_site(doc)
    room = next(r for r in site.facility.rooms if r.name == "qhall-b")
    now = document_hash(SurveyContext.build(site), room)
    doc["facility"]["safety"]["documents"] = [
        {"room": "qhall-b", "revision": 3, "signed_by": "hse", "signed_on": "2026-10-01",
         "content_sha256": now.content, "sections": now.sections}]
    site = parse_site(doc)
    write_reports(run_survey(site), site, tmp_path, ("safety",))
    text = (tmp_path / "safety" / "qhall-b.md").read_text()
    assert "| revision | 3 |" in text and "| sign-off | **signed** by hse on 2026-10-01 |" in text
    doc["facility"]["safety"]["lasers"][0]["power_w"] = 20
    site = parse_site(doc)
    result = run_survey(site)
    write_reports(result, site, tmp_path, ("safety",))
    text = (tmp_path / "safety" / "qhall-b.md").read_text()
    assert "| revision | 4 (draft; rev 3 was signed) |" in text and "**changed since signed**" in text
    (finding,) = [f for f in result.findings if f.check == "safety.sign_off" and f.room == "qhall-b"]
    assert "sections: lasers" in finding.message and finding.severity.value == "warning"


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
    assert "Survey blockers for this room: 1" in (national / "safety" / "qhall-b.md").read_text()
    assert "Survey blockers" not in (national / "safety" / "photonics-lab.md").read_text()


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


def test_json_lists_each_room_document_with_its_hash(national: Path) -> None:
    data = json.loads((national / "survey.json").read_text())
    docs = {d["room"]: d for d in data["safety_documents"]}
    assert set(docs) == {"qhall-a", "qhall-b", "photonics-lab"}
    text = (national / "safety" / "qhall-a.md").read_text()
    assert docs["qhall-a"]["id"] == "QPS-SF-national-qhall-a" and docs["qhall-a"]["content_sha256"] in text
    assert docs["qhall-a"]["signed"] is False and docs["qhall-a"]["revision"] == "1 (draft)"
