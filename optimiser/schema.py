"""Schemas of a scenario: `scenario.yaml`, `sanctions.yaml` and one row model per CSV table.

Every field states its unit in brackets and what it means; these descriptions are what an error
message quotes when a value is invalid. All models are frozen and reject unknown keys.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
"""lower-case id: letters, digits, '_' and '-', starting with a letter; at most 64 characters"""

# Upper bounds keep every number finite and well below HiGHS's infinity (it reads values from
# 1e20 as infinite), with room for products such as price x quantity in one LP row.
MAX_QUANTITY = 1e12
"""units, tonnes or persons in one row [-]"""
MAX_USD = 1e9
"""a price or cost per unit, tonne or team-week [USD]"""
MAX_WEEKS = 10_000
"""a week number or a number of weeks (the horizon is at most 520)"""

LEVERS = ("testing", "care")


def F(unit: str, description: str, **constraints: Any) -> Any:  # noqa: N802
    """A field with its unit and one-line description kept together; bounds `le` and a `ge`
    other than 0 are appended to the description."""
    low, high = constraints.get("ge"), constraints.get("le")
    shown = f"; at least {low:g}" if low else ""
    shown += "" if high is None else f"; at most {high:g}"
    shown = re.sub(r"e\+0*", "e", shown)  # 1e+06 -> 1e6
    return Field(description=f"{description} [{unit}]{shown}", **constraints)


class Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False
    )


# --- scenario.yaml ---------------------------------------------------------------------------


class Tables(Frozen):
    """File names of the scenario's tables, relative to the scenario folder."""

    provinces: str = F("file", "provinces with population, location, beds, seed infections")
    commodities: str = F("file", "supplies with mass, HS code and consumption rates")
    depots: str = F("file", "ROK depots")
    supply: str = F("file", "weekly availability per depot and commodity")
    crossings: str = F("file", "border crossings and foreign nodes")
    arcs: str = F("file", "directed routes between nodes")
    sanctions: str = F("file", "sanction rules, route approvals and exemption options")
    mobility: str | None = F("file", "optional province x province mixing matrix", default=None)
    needs: str | None = F("file", "optional planner's own forecast of needs", default=None)


class ContactReduction(Frozen):
    from_: dt.date = F("date", "first day the reduction applies", alias="from")
    reduction: float = F("1", "share of contacts removed", ge=0.0, lt=1.0)


class Mobility(Frozen):
    outside_share: float = F(
        "1", "share of a resident's contacts made in other provinces", ge=0.0, le=1.0
    )
    distance_exponent: float = F("1", "gravity model: contacts fall as distance^-x", ge=0.0, le=10)


class Epidemic(Frozen):
    r0: float = F("1", "basic reproduction number", gt=0.0, le=20.0)
    latent_days: float = F("d", "mean time from infection to infectiousness", ge=0.1, le=365)
    infectious_days: float = F("d", "mean infectious period", ge=0.1, le=365)
    hospital_share: float = F("1", "share of infections needing hospital care", ge=0.0, le=1.0)
    stay_days: float = F("d", "mean length of hospital stay", ge=0.1, le=365)
    fatality_care: float = F("1", "deaths among hospitalised with adequate care", ge=0.0, le=1.0)
    fatality_no_care: float = F("1", "deaths among hospitalised without it", ge=0.0, le=1.0)
    detection_base_per_day: float = F("1/d", "detection rate with no testing aid", ge=0.0, le=10)
    detection_max_per_day: float = F(
        "1/d", "detection rate at full testing coverage", ge=0.0, le=10
    )
    health_workers_per_hospital_patient: float = F(
        "persons/patient", "inpatient health workers on duty per patient", ge=0.0, le=100
    )
    contact_reduction: tuple[ContactReduction, ...] = F(
        "list", "contact-reduction schedule (lockdown), in date order", default=()
    )
    mobility: Mobility = F("-", "gravity-model mixing between provinces")
    gradient_tail_weeks: int = F(
        "weeks", "weeks after the horizon whose deaths still value testing in the plan",
        default=8, ge=0, le=104,
    )  # fmt: skip
    initial_infections: dict[Identifier, Annotated[float, Field(le=10**10)]] | None = F(
        "persons", "seed infections per province; replaces provinces.csv's column; each at most "
        "1e10", default=None,
    )  # fmt: skip

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Epidemic:
        if self.fatality_care > self.fatality_no_care:
            raise ValueError(
                f"fatality_care ({self.fatality_care}) must not exceed fatality_no_care "
                f"({self.fatality_no_care})"
            )
        if self.detection_base_per_day > self.detection_max_per_day:
            raise ValueError(
                f"detection_base_per_day ({self.detection_base_per_day}) must not exceed "
                f"detection_max_per_day ({self.detection_max_per_day})"
            )
        dates = [c.from_ for c in self.contact_reduction]
        if dates != sorted(dates):
            raise ValueError(f"contact_reduction dates must be in order, got {dates}")
        return self


class Staff(Frozen):
    teams_per_week: float = F(
        "teams/week", "ROK medical teams that can leave each week", ge=0, le=1e6
    )
    staff_per_team: int = F("persons", "staff in one team", gt=0, le=10_000)
    patients_per_team: float = F("patients", "hospital patients one team cares for", ge=0.1, le=1e6)
    deployment_weeks: int = F("weeks", "how long a team stays once deployed", ge=1, le=520)
    care_share: float = F("1", "weight of staff within the care lever", ge=0.0, le=1.0)
    cost_usd_per_team_week: float = F(
        "USD/(team week)", "cost of keeping one team deployed for a week", ge=0.0, le=MAX_USD
    )
    origins: tuple[Identifier, ...] = F("depot ids", "depots teams leave from", min_length=1)


class Objective(Frozen):
    usd_per_death_averted: float = F(
        "USD/death", "spending weighs as one death per this many dollars", ge=1, le=MAX_QUANTITY
    )
    budget_usd: float | None = F(
        "USD", "cap on procurement, transport and medical teams", default=None, ge=0, le=1e15
    )


class Coupling(Frozen):
    mode: Literal["one-way", "closed-loop"] = F("-", "epidemic -> LP once, or iterate")
    max_iterations: int = F("iterations", "closed-loop iteration limit", ge=1, le=200)
    tolerance: float = F("1", "stop when coverage changes less than this", gt=0.0)
    damping: float = F("1", "share of the new coverage taken each iteration", gt=0.0, le=1.0)
    deaths_tolerance: float | None = F(
        "1", "also stop when deaths change by less than this share between iterations "
        "(for scenarios where scarce supplies make equally good plans trade places)",
        default=None, gt=0,
    )  # fmt: skip


class Solver(Frozen):
    method: Literal["auto", "simplex", "ipm"] = F(
        "-", "HiGHS algorithm; auto picks simplex below ipm_above_columns", default="auto"
    )
    ipm_above_columns: int = F(
        "columns", "auto switches to interior point above", default=50_000, ge=0, le=10**9
    )
    time_limit_s: float | None = F("s", "HiGHS time limit per solve", default=None, gt=0, le=1e6)


FITTABLE = ("r0", "reduction", "reporting", "seed")
"""Parameters `aidopt calibrate` can fit: R0, the contact reduction from the lockdown date,
the share of symptomatic onsets reported, and the seed (infections at start_date)."""


class Calibration(Frozen):
    lockdown_date: dt.date | None = F(
        "date", "the fitted contact reduction applies from this day", default=None
    )
    report_delay_days: int = F("d", "days from onset to report", default=0, ge=0, le=30)
    reporting: float = F(
        "1", "share of onsets reported, when it is not fitted", default=1.0, gt=0, le=1
    )
    fit: tuple[Literal["r0", "reduction", "reporting", "seed"], ...] = F(
        "names", "parameters to fit by default", default=FITTABLE
    )
    starts: int = F("starts", "multi-start points for the fit", default=8, ge=1, le=64)
    bounds: dict[Literal["r0", "reduction", "reporting", "seed"], tuple[float, float]] = F(
        "natural units", "search bounds per parameter",
        default={"r0": (0.8, 20.0), "reduction": (0.0, 0.95), "reporting": (0.001, 1.0),
                 "seed": (1.0, 1.0e6)},
    )  # fmt: skip


class ScenarioConfig(Frozen):
    name: Identifier = F("-", "scenario name, used for the default output folder")
    description: str = F("-", "one line for people", default="")
    start_date: dt.date = F("date", "first day of week 0")
    horizon_weeks: int = F("weeks", "planning horizon", ge=1, le=520)
    tables: Tables = F("-", "the scenario's tables")
    epidemic: Epidemic = F("-", "SEIR parameters")
    staff: Staff = F("-", "ROK medical teams")
    exemptions_requested: tuple[Identifier, ...] = F(
        "ids", "1718 Committee exemptions asked for (ids from sanctions.yaml)", default=()
    )
    objective: Objective = F("-", "objective weights")
    coupling: Coupling = F("-", "how the epidemic and the LP are coupled")
    solver: Solver = F("-", "HiGHS settings", default=Solver())
    calibration: Calibration = F("-", "how `aidopt calibrate` fits", default=Calibration())


# --- sanctions.yaml --------------------------------------------------------------------------


class Unscr2397(Frozen):
    source: str = F("-", "where the rule comes from", min_length=1)
    hs_chapters: tuple[Annotated[int, Field(ge=1, le=99)], ...] = F(
        "HS chapter", "chapters barred from entering the DPRK; each from 1 to 99"
    )


class RouteApprovals(Frozen):
    source: str = F("-", "where the rule comes from", min_length=1)
    routes: dict[Identifier, Annotated[int, Field(ge=0, le=MAX_WEEKS)]] = F(
        "weeks", f"ROK-to-DPRK arcs requested, each with its approval lead time (0 to {MAX_WEEKS})"
    )


class Exemption(Frozen):
    id: Identifier = F("-", "exemption id")
    commodities: tuple[Identifier, ...] = F("ids", "commodities it covers", min_length=1)
    request_week: int = F("week", "week the request is filed", ge=0, le=MAX_WEEKS)
    approval_lead_weeks: int = F("weeks", "time to approval", ge=0, le=MAX_WEEKS)
    validity_weeks: int = F("weeks", "how long the approval lasts", ge=1, le=MAX_WEEKS)
    quota_t: float = F("t", "tonnes it allows across all entry routes", ge=0, le=MAX_QUANTITY)
    source: str = F("-", "where the figures come from", min_length=1)


class Sanctions(Frozen):
    unscr_2397: Unscr2397 = F("-", "UN ban on HS chapters 72-89")
    rok_route_approvals: RouteApprovals = F("-", "ROK May 24 measures: per-route approvals")
    exemptions: tuple[Exemption, ...] = F("-", "exemptions that may be requested", default=())


# --- CSV rows --------------------------------------------------------------------------------


class ProvinceRow(Frozen):
    id: Identifier = F("-", "province id")
    name: str = F("-", "province name", min_length=1)
    population: int = F("persons", "population", gt=0, le=10**10)
    latitude: float = F("deg", "latitude of a representative point", ge=-90, le=90)
    longitude: float = F("deg", "longitude of a representative point", ge=-180, le=180)
    hospital_beds: int = F("beds", "hospital beds", ge=0, le=10**9)
    doctors: int = F("persons", "doctors", ge=0, le=10**9)
    initial_infections: float = F("persons", "infections (exposed) at day 0", ge=0, le=10**10)
    source: str = F("-", "sources and assumptions", min_length=1)


class CommodityRow(Frozen):
    id: Identifier = F("-", "commodity id")
    name: str = F("-", "name", min_length=1)
    unit: str = F("-", "what one unit is", min_length=1)
    mass_kg_per_unit: float = F("kg/unit", "shipping mass of one unit", gt=0, le=1e6)
    hs_code: Annotated[str, StringConstraints(pattern=r"^\d{4,10}$")] = F(
        "-", "Harmonized System code, 4 to 10 digits"
    )
    durable: bool = F("-", "true if in use, not consumed (equipment)")
    lever: Literal["testing", "care"] = F("-", "which epidemic lever it serves")
    lever_share: float = F("1", "weight within its lever", ge=0, le=1)
    per_case: float = F("units/case", "consumed per new infectious case", ge=0, le=1e6)
    per_isolated_patient_day: float = F("units/patient-day", "per day in isolation", ge=0, le=1e6)
    per_hospital_patient_day: float = F("units/patient-day", "per day in hospital", ge=0, le=1e6)
    per_health_worker_day: float = F(
        "units/worker-day", "per inpatient health-worker day", ge=0, le=1e6
    )
    per_occupied_bed: float = F("units/bed", "in use per occupied bed (durables)", ge=0, le=1e6)
    source: str = F("-", "sources and assumptions", min_length=1)


class DepotRow(Frozen):
    id: Identifier = F("-", "depot id")
    name: str = F("-", "name", min_length=1)
    latitude: float = F("deg", "latitude", ge=-90, le=90)
    longitude: float = F("deg", "longitude", ge=-180, le=180)
    source: str = F("-", "sources and assumptions", min_length=1)


class CrossingRow(Frozen):
    id: Identifier = F("-", "node id")
    name: str = F("-", "name", min_length=1)
    country: Literal["ROK", "DPRK", "CHN", "RUS"] = F("-", "country the node lies in")
    latitude: float = F("deg", "latitude", ge=-90, le=90)
    longitude: float = F("deg", "longitude", ge=-180, le=180)
    source: str = F("-", "sources and assumptions", min_length=1)


class SupplyRow(Frozen):
    depot: Identifier = F("-", "depot id")
    commodity: Identifier = F("-", "commodity id")
    units_per_week: float = F(
        "units/week", "available at the depot each week", ge=0, le=MAX_QUANTITY
    )
    procurement_usd_per_unit: float = F("USD/unit", "purchase cost", ge=0, default=0.0, le=MAX_USD)
    source: str = F("-", "sources and assumptions", min_length=1)


class ArcRow(Frozen):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)] = F(
        "-", "arc id"
    )
    from_: Identifier = F("-", "tail node id", alias="from")
    to: Identifier = F("-", "head node id")
    mode: Literal["road", "rail", "sea", "air"] = F("-", "transport mode")
    distance_km: float | None = F("km", "length, for information", ge=0, default=None, le=1e5)
    capacity_t_per_week: float = F(
        "t/week", "tonnes that may leave each week", ge=0, le=MAX_QUANTITY
    )
    cost_per_t: float = F("USD/t", "transport cost", ge=0, le=MAX_USD)
    transit_weeks: int = F("weeks", "weeks from departure to arrival", ge=0, le=520)
    personnel: bool = F("-", "true if medical teams may travel on it")
    open_from: dt.date | None = F("date", "first day it is open (empty: always)", default=None)
    open_until: dt.date | None = F("date", "last day it is open (empty: always)", default=None)
    source: str = F("-", "sources and assumptions", min_length=1)


class NeedRow(Frozen):
    week: int = F("week", "plan week", ge=0, le=MAX_WEEKS)
    province: Identifier = F("-", "province id")
    commodity: Identifier = F("-", "commodity id, or 'medical_team' for staff")
    quantity: float = F("units", "units needed that week", ge=0, le=MAX_QUANTITY)
    source: str = F("-", "where the forecast comes from", default="planner's forecast")


TEAM = "medical_team"
"""The item name used for medical teams in needs.csv and in exported shipments."""
