"""Policy profiles: which profile a request runs under, whether it may use the QPUs
it asks for, how long it may hold them."""

from __future__ import annotations

from dataclasses import dataclass

from qrmid.config import Profile


class PolicyRefusal(Exception):
    """The request is not allowed; the message tells the user what to change."""


@dataclass(frozen=True)
class Decision:
    profile: Profile
    hold_s: int
    warnings: tuple[str, ...]


def member(profile: Profile, user: str, groups: list[str]) -> bool:
    return user in profile.users or bool(set(groups) & set(profile.groups))


def decide(
    profiles: list[Profile],
    user: str,
    groups: list[str],
    qpus: list[str],
    time_limit_s: int | None,
    requested: str | None = None,
) -> Decision:
    """Pick the profile and hold time for a request, or refuse with an actionable message.

    Without an explicit profile the highest-priority profile that admits the user
    and allows every requested QPU wins, so users need not know the profile names.
    """
    mine = [p for p in profiles if member(p, user, groups)]
    if requested is not None:
        named = next((p for p in profiles if p.name == requested), None)
        if named is None:
            known = ", ".join(p.name for p in profiles) or "none"
            raise PolicyRefusal(f"unknown policy profile '{requested}' (profiles: {known})")
        if named not in mine:
            raise PolicyRefusal(
                f"user '{user}' is not in policy profile '{requested}'"
                + (f"; your profiles: {', '.join(p.name for p in mine)}" if mine else "")
            )
        candidates = [named]
    else:
        if not mine:
            raise PolicyRefusal(
                f"user '{user}' is in no QPU policy profile; ask the site operators to add you "
                f"(profiles: {', '.join(p.name for p in profiles) or 'none'})"
            )
        candidates = sorted(mine, key=lambda p: -p.priority)
    allowed = [p for p in candidates if set(qpus) <= set(p.qpus)]
    if not allowed:
        p = candidates[0]
        denied = sorted(set(qpus) - set(p.qpus))
        raise PolicyRefusal(
            f"policy profile '{p.name}' does not allow QPU(s) {', '.join(denied)} for user '{user}' "
            f"(it allows {', '.join(p.qpus)})"
        )
    profile = allowed[0]
    max_hold = profile.max_hold_minutes * 60
    warnings: list[str] = []
    hold = max_hold
    if time_limit_s is not None and time_limit_s > 0:
        hold = min(time_limit_s, max_hold)
        if time_limit_s > max_hold:
            warnings.append(
                f"the job's time limit ({time_limit_s // 60} min) exceeds profile '{profile.name}''s "
                f"maximum QPU hold ({profile.max_hold_minutes} min); "
                f"QPU access ends after {profile.max_hold_minutes} min"
            )
    return Decision(profile=profile, hold_s=hold, warnings=tuple(warnings))
