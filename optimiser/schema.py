"""Schemas of a scenario: `scenario.yaml`, `sanctions.yaml` and one row model per CSV table.

Every field states its unit in brackets and what it means; these descriptions are what an error
message quotes when a value is invalid. All models are frozen and reject unknown keys.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$")]
"""lower-case id: letters, digits, '_' and '-', starting with a letter"""

LEVERS = ("testing", "ipc", "care")
"""The epidemic's levers: testing raises detection, infection prevention and control (ipc)
raises isolation efficacy, care lowers hospital fatality (see `models/seir.py`)."""


def F(unit: str, description: str, **constraints: Any) -> Any:  # noqa: N802
    """A field with its unit and one-line description kept together."""
    return Field(description=f"{description} [{unit}]", **constraints)


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
    distance_exponent: float = F("1", "gravity model: contacts fall as distance^-x", ge=0.0)


class Epidemic(Frozen):
    """SEIR parameters (see `models/seir.py` for the model). Defaults are sourced figures from
    the team's fact sheet or labelled assumptions; a scenario may restate any of them."""

    r0: float = F("1", "reproduction number in the community before detection, isolation and "
                  "contact reduction", gt=0.0, le=20.0)  # fmt: skip
    latent_days: float = F("d", "mean time from infection to infectiousness", gt=0.0, le=60.0)
    presymptomatic_days: float = F(
        "d", "mean infectious time before symptom onset (He et al. Nat Med 2020: from 2.3 d "
        "before onset)", default=2.3, ge=0.0, le=30.0,
    )  # fmt: skip
    infectious_days: float = F(
        "d", "mean infectious period after symptom onset", gt=0.0, le=60.0
    )
    asymptomatic_share: float = F(
        "1", "share of infections that never show symptoms (Buitrago-Garcia et al. PLoS Med "
        "2020: 20 %, 95 % CI 17-25 %)", default=0.2, ge=0.0, lt=1.0,
    )  # fmt: skip
    asymptomatic_relative_infectiousness: float = F(
        "1", "how infectious asymptomatic cases are against symptomatic ones (Buitrago-Garcia "
        "et al.: 0.35, 0.10-1.27)", default=0.35, ge=0.0, le=2.0,
    )  # fmt: skip
    hospital_share: float = F(
        "1", "share of symptomatic cases needing hospital care", ge=0.0, le=1.0
    )
    stay_days: float = F("d", "mean length of hospital stay", gt=0.0, le=365.0)
    fatality_care: float = F("1", "deaths among hospitalised with adequate care", ge=0.0, le=1.0)
    fatality_no_care: float = F("1", "deaths among hospitalised without it", ge=0.0, le=1.0)
    detection_base_per_day: float = F(
        "1/d", "detection rate of symptomatic cases with no testing aid", ge=0.0, le=100.0
    )
    detection_max_per_day: float = F(
        "1/d", "detection rate of symptomatic cases at full testing coverage", ge=0.0, le=100.0
    )
    tracing_relative_rate: float = F(
        "1", "detection of presymptomatic and asymptomatic cases by contact tracing, as a share "
        "of the symptomatic detection rate (assumption)", default=0.1, ge=0.0, le=1.0,
    )  # fmt: skip
    test_turnaround_days: float = F(
        "d", "mean time from a test to its result and so to isolation (assumption)",
        default=1.0, ge=0.0, le=30.0,
    )  # fmt: skip
    isolation_efficacy: float = F(
        "1", "share of onward transmission isolation and hospital care stop at full infection "
        "prevention and control (IPC) coverage (assumption)", default=0.8, ge=0.0, le=1.0,
    )  # fmt: skip
    isolation_efficacy_no_ipc: float = F(
        "1", "the same share with no IPC aid (assumption)", default=0.5, ge=0.0, le=1.0
    )
    domestic_care_share: float = F(
        "1", "share of the care lever the DPRK's own hospitals provide while within their "
        "capacity (assumption)", default=0.5, ge=0.0, le=1.0,
    )  # fmt: skip
    domestic_beds_share: float = F(
        "1", "share of a province's hospital beds that can take COVID-19 patients with care "
        "(assumption)", default=0.1, ge=0.0, le=1.0,
    )  # fmt: skip
    domestic_patients_per_doctor: float = F(
        "patients/doctor", "COVID-19 inpatients one domestic doctor can care for (assumption)",
        default=10.0, gt=0.0, le=1000.0,
    )  # fmt: skip
    health_workers_per_hospital_patient: float = F(
        "persons/patient", "inpatient health workers on duty per patient", default=0.5, ge=0.0,
        le=100.0,
    )  # fmt: skip
    contact_reduction: tuple[ContactReduction, ...] = F(
        "list", "contact-reduction schedule (lockdown), in date order", default=()
    )
    mobility: Mobility = F("-", "gravity-model mixing between provinces")
    outlook_weeks: int = F(
        "weeks", "weeks from start_date the epidemic is followed, aid stopping at the horizon; "
        "deaths to its end value the plan", default=104, ge=1, le=520,
    )  # fmt: skip
    initial_infections: dict[Identifier, float] | None = F(
        "persons", "seed infections per province; replaces provinces.csv's column", default=None
    )

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Epidemic:
        pairs = [
            ("fatality_care", "fatality_no_care"),
            ("detection_base_per_day", "detection_max_per_day"),
            ("isolation_efficacy_no_ipc", "isolation_efficacy"),
        ]
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(
                    f"{low} ({getattr(self, low)}) must not exceed {high} ({getattr(self, high)})"
                )
        dates = [c.from_ for c in self.contact_reduction]
        if dates != sorted(dates):
            raise ValueError(f"contact_reduction dates must be in order, got {dates}")
        return self


class Staff(Frozen):
    teams_per_week: float = F("teams/week", "ROK medical teams that can leave each week", ge=0,
                              le=1e6)  # fmt: skip
    staff_per_team: int = F("persons", "staff in one team", gt=0, le=10_000)
    patients_per_team: float = F("patients", "hospital patients one team cares for", gt=0,
                                 le=1e6)  # fmt: skip
    deployment_weeks: int = F("weeks", "how long a team stays once deployed", ge=1, le=520)
    package: Identifier = F(
        "-", "the care-lever package teams belong to: alone in their own (default), they add "
        "to the other care packages; named like a commodity's package, they are its "
        "complement", default="teams",
    )  # fmt: skip
    cost_usd_per_team_week: float = F(
        "USD/(team week)", "cost of keeping one team deployed for a week", ge=0.0, le=1e9
    )
    origins: tuple[Identifier, ...] = F("depot ids", "depots teams leave from", min_length=1)


class Penalty(Frozen):
    """What one unit of a planner's need left unmet costs, in deaths or in USD."""

    deaths_per_unit: float | None = F("deaths/unit", "deaths one unit short causes",
                                      default=None, ge=0, le=1e6)  # fmt: skip
    usd_per_unit: float | None = F("USD/unit", "cost of one unit short", default=None, ge=0,
                                   le=1e12)  # fmt: skip

    @model_validator(mode="after")
    def _one_unit(self) -> Penalty:
        if (self.deaths_per_unit is None) == (self.usd_per_unit is None):
            raise ValueError("give exactly one of deaths_per_unit and usd_per_unit")
        return self


class Objective(Frozen):
    usd_per_death_averted: float = F(
        "USD/death", "spending weighs as one death per this many dollars", ge=1.0, le=1e12
    )
    budget_usd: float | None = F(
        "USD", "cap on procurement, transport and medical teams", default=None, ge=0, le=1e15
    )
    unmet_penalty: dict[Identifier, Penalty] = F(
        "-", "with needs.csv: the cost of need left unmet, per commodity id (or medical_team); "
        "items not named weigh one death per unit of their mean weekly need", default={},
    )  # fmt: skip


class Coupling(Frozen):
    """How the epidemic and the LP meet. The closed loop is sequential linear programming
    with a trust region on coverage; see `optimiser/coupling.py`."""

    mode: Literal["one-way", "closed-loop"] = F("-", "epidemic -> LP once, or iterate")
    max_iterations: int = F("iterations", "closed-loop iteration limit", ge=1, le=500)
    tolerance: float = F(
        "1", "converged when the best plan within the trust region predicts fewer deaths "
        "averted than this share of the current deaths (plus half a death)", gt=0.0, le=1.0,
    )  # fmt: skip
    trust_region: float = F(
        "1", "initial largest change of any coverage in one iteration", default=0.25,
        gt=0.0, le=1.0,
    )  # fmt: skip
    min_trust_region: float = F(
        "1", "converged when no step this large or larger improves the plan", default=1e-3,
        gt=0.0, le=0.5,
    )  # fmt: skip


class Solver(Frozen):
    method: Literal["auto", "simplex", "ipm"] = F(
        "-", "HiGHS algorithm; auto is the simplex method, which re-solves warm from the last "
        "basis (measured faster than interior point at every size tried, see the README)",
        default="auto",
    )  # fmt: skip
    time_limit_s: float | None = F("s", "HiGHS time limit per solve", default=None, gt=0,
                                   le=1e7)  # fmt: skip


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
    epidemic: Epidemic | None = F(
        "-", "SEIR parameters; may be left out when needs.csv brings the needs", default=None
    )
    staff: Staff = F("-", "ROK medical teams")
    exemptions_requested: tuple[Identifier, ...] = F(
        "ids", "1718 Committee exemptions asked for (ids from sanctions.yaml)", default=()
    )
    objective: Objective = F("-", "objective weights")
    coupling: Coupling = F("-", "how the epidemic and the LP are coupled")
    solver: Solver = F("-", "HiGHS settings", default=Solver())
    calibration: Calibration = F("-", "how `aidopt calibrate` fits", default=Calibration())

    @model_validator(mode="after")
    def _epidemic_fits(self) -> ScenarioConfig:
        if self.epidemic is None and self.tables.needs is None:
            raise ValueError("'epidemic' is missing; it may be left out only with tables.needs")
        if self.epidemic is not None and self.epidemic.outlook_weeks < self.horizon_weeks:
            raise ValueError(
                f"epidemic.outlook_weeks ({self.epidemic.outlook_weeks}) must be at least "
                f"horizon_weeks ({self.horizon_weeks})"
            )
        return self


# --- sanctions.yaml --------------------------------------------------------------------------


class Unscr2397(Frozen):
    source: str = F("-", "where the rule comes from", min_length=1)
    hs_chapters: tuple[int, ...] = F("HS chapter", "chapters barred from entering the DPRK")


class RouteApprovals(Frozen):
    source: str = F("-", "where the rule comes from", min_length=1)
    routes: dict[Identifier, int] = F(
        "weeks", "ROK-to-DPRK arcs requested, each with its approval lead time"
    )


class Exemption(Frozen):
    id: Identifier = F("-", "exemption id")
    commodities: tuple[Identifier, ...] = F("ids", "commodities it covers", min_length=1)
    request_week: int = F("week", "week the request is filed", ge=0)
    approval_lead_weeks: int = F("weeks", "time to approval", ge=0)
    validity_weeks: int = F("weeks", "how long the approval lasts", ge=1)
    quota_t: float = F("t", "tonnes it allows across all entry routes", ge=0)
    source: str = F("-", "where the figures come from", min_length=1)


class Sanctions(Frozen):
    unscr_2397: Unscr2397 = F("-", "UN ban on HS chapters 72-89")
    rok_route_approvals: RouteApprovals = F("-", "ROK May 24 measures: per-route approvals")
    exemptions: tuple[Exemption, ...] = F("-", "exemptions that may be requested", default=())


# --- CSV rows --------------------------------------------------------------------------------


class ProvinceRow(Frozen):
    id: Identifier = F("-", "province id")
    name: str = F("-", "province name", min_length=1)
    population: int = F("persons", "population", gt=0)
    latitude: float = F("deg", "latitude of a representative point", ge=-90, le=90)
    longitude: float = F("deg", "longitude of a representative point", ge=-180, le=180)
    hospital_beds: int = F("beds", "hospital beds", ge=0)
    doctors: int = F("persons", "doctors", ge=0)
    initial_infections: float = F("persons", "infections (exposed) at day 0", ge=0)
    source: str = F("-", "sources and assumptions", min_length=1)


class CommodityRow(Frozen):
    id: Identifier = F("-", "commodity id")
    name: str = F("-", "name", min_length=1)
    unit: str = F("-", "what one unit is", min_length=1)
    mass_kg_per_unit: float = F("kg/unit", "shipping mass of one unit", gt=0)
    hs_code: Annotated[str, StringConstraints(pattern=r"^\d{4,10}$")] = F(
        "-", "Harmonized System code, 4 to 10 digits"
    )
    durable: bool = F("-", "true if in use, not consumed (equipment)")
    lever: Literal["testing", "ipc", "care", "none"] = F(
        "-", "the epidemic lever it serves (none: needed, but not a lever input)"
    )
    package: Identifier | None = F(
        "-", "inputs of a lever sharing a package are complements (the scarcest sets the "
        "package's coverage); a lever's packages are substitutes (they add); empty: the lever's "
        "one package", default=None,
    )  # fmt: skip
    uses_lab: bool = F("-", "each unit takes one test slot of a laboratory", default=False)
    adds_lab_tests_per_week: float = F(
        "tests/(unit week)", "laboratory capacity one unit in use adds (durables)", default=0.0,
        ge=0, le=1e6,
    )  # fmt: skip
    per_case: float = F("units/case", "consumed per new infectious case", ge=0)
    per_isolated_patient_day: float = F("units/patient-day", "per day in isolation", ge=0)
    per_hospital_patient_day: float = F("units/patient-day", "per day in hospital", ge=0)
    per_health_worker_day: float = F("units/worker-day", "per inpatient health-worker day", ge=0)
    per_occupied_bed: float = F("units/bed", "in use per occupied bed (durables)", ge=0)
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
    units_per_week: float = F("units/week", "available at the depot each week", ge=0)
    procurement_usd_per_unit: float = F("USD/unit", "purchase cost", ge=0, default=0.0)
    source: str = F("-", "sources and assumptions", min_length=1)


class ArcRow(Frozen):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$")] = F("-", "arc id")
    from_: Identifier = F("-", "tail node id", alias="from")
    to: Identifier = F("-", "head node id")
    mode: Literal["road", "rail", "sea", "air"] = F("-", "transport mode")
    distance_km: float | None = F("km", "length, for information", ge=0, default=None)
    capacity_t_per_week: float = F("t/week", "tonnes that may leave each week", ge=0)
    cost_per_t: float = F("USD/t", "transport cost", ge=0)
    transit_weeks: int = F("weeks", "weeks from departure to arrival", ge=0)
    personnel: bool = F("-", "true if medical teams may travel on it")
    open_from: dt.date | None = F("date", "first day it is open (empty: always)", default=None)
    open_until: dt.date | None = F("date", "last day it is open (empty: always)", default=None)
    source: str = F("-", "sources and assumptions", min_length=1)


class NeedRow(Frozen):
    week: int = F("week", "plan week", ge=0)
    province: Identifier = F("-", "province id")
    commodity: Identifier = F("-", "commodity id, or 'medical_team' for staff")
    quantity: float = F("units", "units needed that week", ge=0)
    source: str = F("-", "where the forecast comes from", default="planner's forecast")


TEAM = "medical_team"
"""The item name used for medical teams in needs.csv and in exported shipments."""
