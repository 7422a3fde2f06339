"""Worst-case oxygen concentration after a release of cryogen or inert gas into a room.

Method (BCGA CP36 / BCGA GN11 practice; the same as most university and
gas-supplier ODH calculators): the largest credible release is the whole
content of the largest single vessel, evaporated at once and mixed evenly
into the room's free volume, displacing air. Ventilation is ignored for the
minimum (it cannot act on an instantaneous release) and used only for the
time to recover:

    Vg   = liquid litres × expansion ratio   (or the declared gas volume)
    O2 % = 20.9 × (Vr − Vg) / Vr             (0 when Vg ≥ Vr)
    t    = (Vr / Q) × ln((20.9 − O2) / (20.9 − threshold))   with Q fresh air in m³/h

Expansion ratios are m³ of gas at 15 °C and 1 atm per litre of liquid at its
normal boiling point, from the densities of the liquid and of the gas (ideal
gas at 15 °C): helium 0.1249 kg/L → 0.738 m³/L, nitrogen 0.806 kg/L → 0.680
m³/L, argon 1.395 kg/L → 0.826 m³/L. Perfect mixing understates the
depletion near the point of release, which is why sensors sit low (helium:
high) near the source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from site_survey.model import CryogenInventory, Room

AIR_O2_PCT = 20.9
EXPANSION_M3_PER_L = {"helium": 0.738, "nitrogen": 0.680, "argon": 0.826}
METHOD = (
    "worst case = whole content of the largest vessel released at once and mixed into the room's free volume; "
    "O2 % = 20.9 × (Vr − Vg) / Vr (BCGA CP36/GN11 method); ventilation ignored for the minimum"
)


def gas_volume_m3(item: CryogenInventory) -> float:
    if item.gas_m3 is not None:
        return item.gas_m3
    return (item.liquid_l or 0.0) * EXPANSION_M3_PER_L[item.substance]


def worst_o2_pct(room_volume_m3: float, released_m3: float) -> float:
    if room_volume_m3 <= 0:
        raise ValueError("room volume must be positive")
    return max(AIR_O2_PCT * (room_volume_m3 - released_m3) / room_volume_m3, 0.0)


def recovery_minutes(room_volume_m3: float, fresh_air_m3_h: float, o2_pct: float, threshold_pct: float) -> float:
    """Minutes of fresh-air ventilation (perfect mixing) to climb from o2_pct back to the threshold."""
    if o2_pct >= threshold_pct:
        return 0.0
    if fresh_air_m3_h <= 0:
        return math.inf
    return 60 * room_volume_m3 / fresh_air_m3_h * math.log((AIR_O2_PCT - o2_pct) / (AIR_O2_PCT - threshold_pct))


def room_volume_m3(room: Room) -> tuple[float, str] | None:
    """The room's free volume and how it was obtained; None when neither the volume nor the height is known."""
    if room.volume_m3 is not None:
        return room.volume_m3, "declared volume"
    if room.ceiling_height_m is not None:
        return room.area_m2 * room.ceiling_height_m, (
            f"area {room.area_m2:g} m² × ceiling height {room.ceiling_height_m:g} m"
        )
    return None


@dataclass(frozen=True)
class OdhAssessment:
    room: str
    inventory: tuple[CryogenInventory, ...]
    volume_m3: float | None
    volume_basis: str
    largest: CryogenInventory | None
    released_m3: float
    worst_o2_pct: float | None  # None: the room volume is unknown
    threshold_pct: float
    recovery_min: float | None  # None: no ventilation figure or no volume

    @property
    def is_odh_zone(self) -> bool | None:
        return None if self.worst_o2_pct is None else self.worst_o2_pct < self.threshold_pct


def assess(room: Room, inventory: list[CryogenInventory], threshold_pct: float) -> OdhAssessment:
    vol = room_volume_m3(room)
    largest = max(inventory, key=gas_volume_m3) if inventory else None
    released = gas_volume_m3(largest) if largest else 0.0
    worst = worst_o2_pct(vol[0], released) if vol else None
    recovery = (
        recovery_minutes(vol[0], room.ventilation_m3_h, worst, threshold_pct)
        if vol and worst is not None and room.ventilation_m3_h is not None else None
    )
    return OdhAssessment(
        room=room.name, inventory=tuple(inventory), volume_m3=vol[0] if vol else None,
        volume_basis=vol[1] if vol else "not provided", largest=largest, released_m3=released,
        worst_o2_pct=worst, threshold_pct=threshold_pct, recovery_min=recovery,
    )
