"""What every survey rule needs: each QPU's effective requirements, which QPUs
sit in which room, and which cooling loop and power feed serve each QPU.

The model does not say which loop or feed a QPU is connected to, so the survey
assigns one: among those serving the QPU's room, the first that meets the
QPU's needs (a water loop whose supply range fits; a feed with UPS when the
plant needs one). Every QPU counts against exactly one loop and one feed, so
summing per loop and per feed never counts a QPU twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from site_survey.model import CoolingLoop, CoolingType, Environment, PowerFeed, Qpu, Room, Site
from site_survey.profiles import ProfileLibrary, Requirement, effective_requirements, load_profiles

WATER_LOOPS = (CoolingType.chilled_water, CoolingType.warm_water)

# kVA = kW / power factor. Vendors rarely publish a power factor; 0.9 is a
# conventional planning figure for compressors and switched-mode supplies.
POWER_FACTOR = 0.9

AIR_LOOPS = (CoolingType.air, CoolingType.direct_expansion)

# Requirements that still apply to a QPU that is not in one of the site's rooms (emulated or cloud).
OFF_SITE_KEYS = frozenset({"latency_ms_max", "bandwidth_mbps_min"})


@dataclass
class SurveyContext:
    site: Site
    library: ProfileLibrary
    requirements: dict[str, dict[str, Requirement]] = field(default_factory=dict)
    loop_of: dict[str, CoolingLoop | None] = field(default_factory=dict)
    feed_of: dict[str, PowerFeed | None] = field(default_factory=dict)
    today: date = field(default_factory=date.today)  # measurement ages are counted to this day

    @classmethod
    def build(cls, site: Site, library: ProfileLibrary | None = None, today: date | None = None) -> SurveyContext:
        ctx = cls(site=site, library=library or load_profiles(), today=today or date.today())
        for qpu in site.qpus:
            reqs = effective_requirements(qpu, ctx.library)
            if qpu.room is None:
                # An emulated twin or a cloud QPU puts nothing in this site's rooms: only the network figures apply.
                reqs = {k: r for k, r in reqs.items() if k in OFF_SITE_KEYS}
            ctx.requirements[qpu.name] = reqs
        for qpu in ctx.placed():
            if ctx.needs_water(qpu):
                ctx.loop_of[qpu.name] = ctx._pick_loop(qpu)
            if ctx.req(qpu, "power_kw") or ctx.flag(qpu, "ups_required"):
                ctx.feed_of[qpu.name] = ctx._pick_feed(qpu)
        return ctx

    # ------------------------------------------------------------- lookups

    def placed(self) -> list[Qpu]:
        """QPUs that sit in a room of this site (the facility checks apply to them)."""
        return [q for q in self.site.qpus if q.room is not None]

    def in_room(self, room: str) -> list[Qpu]:
        return [q for q in self.site.qpus if q.room == room]

    def room(self, qpu: Qpu) -> Room:
        room = self.site.room(qpu.room or "")
        if room is None:  # the loader's consistency rules make this unreachable for loaded sites
            raise KeyError(f"QPU {qpu.name} names room {qpu.room!r} which does not exist")
        return room

    def req(self, qpu: Qpu, key: str) -> Requirement | None:
        return self.requirements[qpu.name].get(key)

    def number(self, qpu: Qpu, key: str) -> float | None:
        r = self.req(qpu, key)
        return float(r.value) if r is not None and isinstance(r.value, (int, float)) else None

    def flag(self, qpu: Qpu, key: str) -> bool:
        r = self.req(qpu, key)
        return bool(r is not None and r.value is True)

    def environments(self, room: str) -> list[Environment]:
        return [e for e in self.site.facility.environment if e.room == room]

    def loops_serving(self, room: str, water_only: bool = True) -> list[CoolingLoop]:
        return [
            loop
            for loop in self.site.facility.cooling_loops
            if room in loop.serves_rooms and (loop.type in WATER_LOOPS or not water_only)
        ]

    def air_loops_serving(self, room: str) -> list[CoolingLoop]:
        loops = self.site.facility.cooling_loops
        return [loop for loop in loops if room in loop.serves_rooms and loop.type in AIR_LOOPS]

    def air_heat_kw(self, qpu: Qpu) -> tuple[float, str] | None:
        """Heat a QPU releases into the room air, and how it was obtained (None: no figure at all)."""
        given = self.number(qpu, "air_cooling_kw")
        if given is not None:
            return given, "stated air-side heat"
        power = self.number(qpu, "power_kw")
        if power is None:
            return None
        water = self.number(qpu, "cooling_kw")
        if water is None:
            return power, "all electrical power (no water-side figure)"
        return max(power - water, 0.0), "electrical power minus water-side heat"

    def feeds_serving(self, room: str) -> list[PowerFeed]:
        return [feed for feed in self.site.facility.power_feeds if room in feed.serves_rooms]

    def needs_water(self, qpu: Qpu) -> bool:
        keys = ("cooling_kw", "water_supply_temp_min_c", "water_supply_temp_max_c")
        return any(self.req(qpu, k) is not None for k in keys)

    def demand_kva(self, qpu: Qpu) -> float:
        kw = self.number(qpu, "power_kw")
        return kw / POWER_FACTOR if kw else 0.0

    # ------------------------------------------------------------ placement

    def _fits(self, qpu: Qpu, loop: CoolingLoop) -> bool:
        low = self.number(qpu, "water_supply_temp_min_c")
        high = self.number(qpu, "water_supply_temp_max_c")
        return (low is None or loop.supply_temp_min_c >= low) and (high is None or loop.supply_temp_max_c <= high)

    def _pick_loop(self, qpu: Qpu) -> CoolingLoop | None:
        loops = self.loops_serving(qpu.room or "")
        fitting = [loop for loop in loops if self._fits(qpu, loop)]
        chosen = fitting or loops
        return chosen[0] if chosen else None

    def _pick_feed(self, qpu: Qpu) -> PowerFeed | None:
        feeds = self.feeds_serving(qpu.room or "")
        if self.flag(qpu, "ups_required"):
            with_ups = [f for f in feeds if f.ups_kva > 0]
            feeds = with_ups or feeds
        return feeds[0] if feeds else None

    def on_loop(self, loop: CoolingLoop) -> list[Qpu]:
        return [q for q in self.placed() if self.loop_of.get(q.name) is loop]

    def on_feed(self, feed: PowerFeed) -> list[Qpu]:
        return [q for q in self.placed() if self.feed_of.get(q.name) is feed]
