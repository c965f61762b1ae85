"""Candidate asks: every rule of a scenario a negotiator could ask to change, each written as the
`--set` overrides that make the change, so that any one can be replayed with `aidopt run`.

One function per kind of rule; `generate` calls them all. Ids are `KIND:SUBJECT` (e.g.
`route-close:incheon-nampo-sea`), unique within a scenario, so `--only 'route-*'` selects by
kind. An ask either relaxes a rule (more aid may flow) or tightens it (a refusal: what it would
cost). Several asks combine (`overrides_of`) unless they set the same field (`conflict`); list
fields (exemptions requested, HS chapters lifted) are edited item by item, so that requesting
two exemptions keeps both.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from optimiser.inputs import DPRK, ROK, Scenario
from optimiser.network import hs_chapter, route_approvals, route_windows

CAPACITY_FACTOR, BINDING_FACTOR, TEAM_FACTOR = 1.5, 2.0, 1.5
"""Route capacity asks (+50 %, as issue 12 asks; x2 where the capacity binds in the base plan)
and medical teams a week (+50 %)."""


@dataclass(frozen=True)
class Change:
    """One edit: `key=value` (YAML text, or *FACTOR), or items added to or removed from the list
    field `key`."""

    key: str
    value: str = ""
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    @property
    def edits_list(self) -> bool:
        return bool(self.add or self.remove)


@dataclass(frozen=True)
class Dual:
    """The LP dual that prices an ask: one more t/week of an arc's capacity (summed over the
    weeks), or one more tonne of an exemption's quota; `amount` is how much the ask adds."""

    kind: Literal["capacity", "quota"]
    subject: str
    amount: float


@dataclass(frozen=True)
class Ask:
    id: str
    kind: str
    rule: str
    """the sanction or rule it touches: UNSCR paragraph, HS chapter, ROK measure, route"""
    direction: Literal["relax", "tighten"]
    words: str
    """what to ask for, in plain words"""
    changes: tuple[Change, ...]
    dual: Dual | None = None


# --- one function per kind of rule --------------------------------------------------------------


def exemption_asks(scn: Scenario) -> list[Ask]:
    """Each 1718 Committee exemption: request it if it is not requested; else refuse it, approve
    it a week sooner (valid to the same week), double its quota, or extend it to the horizon."""
    asks = []
    requested = set(scn.config.exemptions_requested)
    for e in scn.sanctions.exemptions:
        rule = f"UNSCR 2397 para. 25: 1718 Committee exemption {e.id}"
        what = f"{', '.join(e.commodities)}, {e.quota_t:g} t"
        key = f"sanctions.exemptions.{e.id}"
        if e.id not in requested:
            asks.append(Ask(f"exemption-request:{e.id}", "exemption-request", rule, "relax",
                            f"Request the 1718 Committee exemption {e.id} ({what})",
                            (Change("exemptions_requested", add=(e.id,)),)))  # fmt: skip
            continue
        asks.append(Ask(f"exemption-drop:{e.id}", "exemption-drop", rule, "tighten",
                        f"If the 1718 Committee exemption {e.id} ({what}) is refused",
                        (Change("exemptions_requested", remove=(e.id,)),)))  # fmt: skip
        if e.approval_lead_weeks >= 1:
            asks.append(Ask(
                f"exemption-sooner:{e.id}", "exemption-sooner", rule, "relax",
                f"Have the exemption {e.id} approved a week sooner "
                f"({e.approval_lead_weeks} to {e.approval_lead_weeks - 1} weeks)",
                (Change(f"{key}.approval_lead_weeks", str(e.approval_lead_weeks - 1)),
                 Change(f"{key}.validity_weeks", str(e.validity_weeks + 1))),
            ))  # fmt: skip
        asks.append(Ask(f"exemption-quota-x2:{e.id}", "exemption-quota-x2", rule, "relax",
                        f"Double the quota of the exemption {e.id} ({e.quota_t:g} to "
                        f"{2 * e.quota_t:g} t)", (Change(f"{key}.quota_t", "*2"),),
                        Dual("quota", e.id, e.quota_t)))  # fmt: skip
        ends = e.request_week + e.approval_lead_weeks + e.validity_weeks
        if ends < scn.n_weeks:
            longer = scn.n_weeks - e.request_week - e.approval_lead_weeks
            asks.append(
                Ask(
                    f"exemption-longer:{e.id}",
                    "exemption-longer",
                    rule,
                    "relax",
                    f"Extend the exemption {e.id} to the horizon ({e.validity_weeks} to "
                    f"{longer} weeks)",
                    (Change(f"{key}.validity_weeks", str(longer)),),
                )
            )
    return asks


def _rok_dprk_arcs(scn: Scenario) -> list[str]:
    country = scn.node_country
    return [a.id for a in scn.arcs if country[a.from_] == ROK and country[a.to] == DPRK]


def route_approval_asks(scn: Scenario) -> list[Ask]:
    """Each ROK-DPRK arc under the May 24 measures: close an approved one or approve it a week
    sooner; approve an unlisted one as fast as the fastest approval listed (week 0 if none)."""
    routes = scn.sanctions.rok_route_approvals.routes
    fastest = min(routes.values(), default=0)
    asks = []
    for arc in _rok_dprk_arcs(scn):
        rule = f"ROK May 24 measures: route {arc}"
        key = f"sanctions.rok_route_approvals.routes.{arc}"
        lead = routes.get(arc)
        if lead is None:
            asks.append(Ask(f"route-approve:{arc}", "route-approve", rule, "relax",
                            f"Have the ROK approve the route {arc} (from week {fastest})",
                            (Change(key, str(fastest)),)))  # fmt: skip
            continue
        asks.append(Ask(f"route-close:{arc}", "route-close", rule, "tighten",
                        f"If the ROK withdraws its approval of the route {arc}",
                        (Change(key, "null"),)))  # fmt: skip
        if lead >= 1:
            asks.append(Ask(f"route-sooner:{arc}", "route-sooner", rule, "relax",
                            f"Have the ROK approve the route {arc} a week sooner (week {lead} to "
                            f"{lead - 1})", (Change(key, str(lead - 1)),)))  # fmt: skip
    return asks


def hs_chapter_asks(scn: Scenario) -> list[Ask]:
    """Each HS chapter UNSCR 2397 bars that holds a commodity of the scenario: lift it for that
    commodity (`unscr_2397.lifted_for`)."""
    ban = scn.sanctions.unscr_2397
    chapters, lifted = set(ban.hs_chapters), set(ban.lifted_for)
    return [
        Ask(f"hs-lift:{hs_chapter(c.hs_code)}:{c.id}", "hs-lift",
            f"UNSCR 2397: HS chapter {hs_chapter(c.hs_code)}", "relax",
            f"Lift UNSCR 2397's ban on HS chapter {hs_chapter(c.hs_code)} for {c.id} "
            f"(HS {c.hs_code[:4]})", (Change("sanctions.unscr_2397.lifted_for", add=(c.id,)),))
        for c in scn.commodities
        if hs_chapter(c.hs_code) in chapters and c.id not in lifted
    ]  # fmt: skip


def capacity_asks(scn: Scenario, binding: Iterable[str] = ()) -> list[Ask]:
    """+50 % capacity on every arc that enters the DPRK or binds in the base plan (`binding`),
    and x2 where it binds; arcs never open within the horizon, or of no capacity, are left out.
    Other arcs (the DPRK's inner roads with room to spare) are not asked about."""
    country = scn.node_country
    usable = (route_windows(scn) & route_approvals(scn)).any(axis=1)
    binding = set(binding)
    asks = []
    for a, arc in enumerate(scn.arcs):
        enters = country[arc.from_] != DPRK and country[arc.to] == DPRK
        if not usable[a] or arc.capacity_t_per_week <= 0 or not (enters or arc.id in binding):
            continue
        key = f"arcs.{arc.id}.capacity_t_per_week"
        rule = f"route {arc.id} ({arc.mode}) capacity"
        for factor in (CAPACITY_FACTOR, BINDING_FACTOR):
            if factor == BINDING_FACTOR and arc.id not in binding:
                continue
            new = factor * arc.capacity_t_per_week
            how = "Double" if factor == 2 else f"Raise by {100 * (factor - 1):g} %"
            asks.append(Ask(f"capacity-x{factor:g}:{arc.id}", f"capacity-x{factor:g}", rule,
                            "relax", f"{how} the capacity of the {arc.mode} route {arc.id} "
                            f"({arc.capacity_t_per_week:g} to {new:g} t/week)",
                            (Change(key, f"*{factor:g}"),),
                            Dual("capacity", arc.id, new - arc.capacity_t_per_week)))  # fmt: skip
    return asks


def crossing_asks(scn: Scenario) -> list[Ask]:
    """Each foreign crossing (China's, Russia's) whose arcs into the DPRK are shut some week of
    the horizon by their open window: open them all the time; and all such crossings at once."""
    country, names = scn.node_country, {c.id: c.name for c in scn.crossings}
    shut = np.asarray(~route_windows(scn).all(axis=1))
    arcs: dict[str, list] = {}
    for a, arc in enumerate(scn.arcs):
        if country[arc.from_] not in (ROK, DPRK) and country[arc.to] == DPRK and shut[a]:
            arcs.setdefault(arc.from_, []).append(arc)

    def opened(node_arcs) -> tuple[Change, ...]:
        return tuple(Change(f"arcs.{arc.id}.{column}", "")
                     for arc in node_arcs for column in ("open_from", "open_until")
                     if getattr(arc, column) is not None)  # fmt: skip

    asks = [
        Ask(f"crossing-open:{node}", "crossing-open", f"{country[node]} border closure: {node}",
            "relax", f"Open the crossing {names[node]} every week "
            f"({', '.join(a.id for a in node_arcs)})", opened(node_arcs))
        for node, node_arcs in arcs.items()
    ]  # fmt: skip
    if len(arcs) > 1:
        every = [arc for node_arcs in arcs.values() for arc in node_arcs]
        asks.append(Ask("crossing-open:all", "crossing-open", "border closures: every crossing",
                        "relax", f"Open every foreign crossing every week ({len(arcs)} "
                        f"crossings: {', '.join(arcs)})", opened(every)))  # fmt: skip
    return asks


def team_asks(scn: Scenario) -> list[Ask]:
    """+50 % ROK medical teams that may leave each week."""
    teams = scn.config.staff.teams_per_week
    if teams <= 0:
        return []
    return [Ask("teams-x1.5", "teams", "ROK medical teams a week", "relax",
                f"Let 50 % more ROK medical teams leave each week ({teams:g} to "
                f"{TEAM_FACTOR * teams:g})",
                (Change("staff.teams_per_week", f"{TEAM_FACTOR * teams:g}"),))]  # fmt: skip


def lift_asks(scn: Scenario) -> list[Ask]:
    """The two bounds: UNSCR 2397's ban lifted entirely, and the May 24 measures lifted
    entirely (every ROK-DPRK arc approved from week 0)."""
    asks = []
    chapters = set(scn.sanctions.unscr_2397.hs_chapters)
    if any(hs_chapter(c.hs_code) in chapters for c in scn.commodities):
        asks.append(Ask("lift:unscr-2397", "lift", "UNSCR 2397 (all HS chapters)", "relax",
                        "Lift UNSCR 2397's ban entirely (every HS chapter)",
                        (Change("sanctions.unscr_2397.hs_chapters", "[]"),)))  # fmt: skip
    routes = scn.sanctions.rok_route_approvals.routes
    arcs = _rok_dprk_arcs(scn)
    if any(routes.get(arc) != 0 for arc in arcs):
        asks.append(
            Ask(
                "lift:may-24",
                "lift",
                "ROK May 24 measures (every route)",
                "relax",
                f"Lift the ROK May 24 measures entirely (all {len(arcs)} routes open from week 0)",
                tuple(Change(f"sanctions.rok_route_approvals.routes.{arc}", "0") for arc in arcs),
            )
        )
    return asks


def generate(scn: Scenario, binding: Iterable[str] = ()) -> list[Ask]:
    """Every candidate ask of a scenario, in a fixed order; `binding` are the arcs whose capacity
    binds in the base plan."""
    asks = [*exemption_asks(scn), *route_approval_asks(scn), *hs_chapter_asks(scn),
            *capacity_asks(scn, binding), *crossing_asks(scn), *team_asks(scn),
            *lift_asks(scn)]  # fmt: skip
    ids = [a.id for a in asks]
    if len(set(ids)) != len(ids):  # a bug, not an input error: ids are made from unique ids
        raise RuntimeError(f"ask ids repeat: {sorted(i for i in ids if ids.count(i) > 1)}")
    return asks


def binding_arcs(capacity_t_per_week: dict[str, float], tonnes: np.ndarray,
                 arc_ids: Sequence[str], value: np.ndarray) -> list[str]:  # fmt: skip
    """Arcs whose capacity binds in some week of a plan: full to 1e-6, or priced by its dual.
    `tonnes` and `value` are (A, W)."""
    cap = np.array([capacity_t_per_week[a] for a in arc_ids])
    full = np.asarray(tonnes >= (1 - 1e-6) * cap[:, None])
    return [
        str(a)
        for i, a in enumerate(arc_ids)
        if capacity_t_per_week[a] > 0 and (full[i].any() or (value[i] > 1e-9).any())
    ]


def select(asks: list[Ask], patterns: Sequence[str]) -> list[Ask]:
    """The asks whose id matches any of the shell patterns (`route-*`, `*:generator*`)."""
    if not patterns:
        return asks
    return [a for a in asks if any(fnmatch.fnmatchcase(a.id, p) for p in patterns)]


# --- combining asks into overrides --------------------------------------------------------------


def _current(scn: Scenario, key: str) -> list:
    lists: dict[str, list] = {
        "exemptions_requested": list(scn.config.exemptions_requested),
        "sanctions.unscr_2397.hs_chapters": list(scn.sanctions.unscr_2397.hs_chapters),
        "sanctions.unscr_2397.lifted_for": list(scn.sanctions.unscr_2397.lifted_for),
    }
    return lists[key]


def overrides_of(asks: Sequence[Ask], scn: Scenario) -> list[str]:
    """The `--set` arguments that make every change of `asks` on top of `scn` (which already
    holds the user's own --set). List fields are rewritten whole, from the scenario's list with
    every item the asks add or remove."""
    changes = [c for a in asks for c in a.changes]
    out: list[str] = []
    lists: dict[str, list] = {}
    for c in changes:
        if c.edits_list:
            items = lists.setdefault(c.key, _current(scn, c.key))
            items[:] = [i for i in items if i not in c.remove]
            items += [i for i in c.add if i not in items]
        else:
            out.append(f"{c.key}={c.value}")
    return [*(f"{key}=[{', '.join(map(str, items))}]" for key, items in lists.items()), *out]


def conflict(a: Ask, others: Iterable[Ask]) -> bool:
    """True if `a` sets a field one of `others` sets too (list fields combine, so never)."""
    keys = {c.key for o in others for c in o.changes if not c.edits_list}
    return any(c.key in keys for c in a.changes if not c.edits_list)
