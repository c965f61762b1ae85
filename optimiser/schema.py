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

LEVERS = ("testing", "ipc", "care")
"""The epidemic's levers: testing raises detection, infection prevention and control (ipc)
raises isolation efficacy, care lowers hospital fatality (see `models/seir.py`)."""


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
    commodities: str = F("file", "supplies with mass, HS code and lever")
    depots: str = F("file", "ROK depots")
    supply: str = F("file", "weekly availability per depot and commodity")
    crossings: str = F("file", "border crossings and foreign nodes")
    arcs: str = F("file", "directed routes between nodes")
    sanctions: str = F("file", "sanction rules, route approvals and exemption options")
    consumption: str = F("file", "consumption rates: units of each commodity per driver unit")
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


class AfterHorizon(Frozen):
    """What the aid does between the plan's horizon and the end of the outlook. The plan buys
    and ships the horizon's weeks only; past it, the programmes either end (stop), go on at the
    last plan week's level (hold), or fall from it to nothing in equal weekly steps (taper)."""

    aid: Literal["stop", "hold", "taper"] = F(
        "-", "stop, hold (at the last plan week's level) or taper (from it to 0)", default="stop"
    )
    taper_weeks: int = F(
        "weeks", "taper: weeks after the horizon over which the aid falls to 0 in equal steps",
        default=13, ge=1, le=MAX_WEEKS,
    )  # fmt: skip

    def shares(self, n_weeks: int) -> tuple[float, ...]:
        """The share of the last plan week's aid held in each of `n_weeks` weeks after it."""
        if self.aid == "hold":
            return (1.0,) * n_weeks
        if self.aid == "taper":
            n = self.taper_weeks
            return tuple(max(0.0, 1.0 - (k + 1) / (n + 1)) for k in range(n_weeks))
        return (0.0,) * n_weeks

    def describe(self) -> str:
        return {"stop": "aid stops at the horizon",
                "hold": "aid goes on at the last plan week's level to the end of the outlook",
                "taper": f"aid falls from the last plan week's level to 0 over "
                         f"{self.taper_weeks} weeks after the horizon"}[self.aid]  # fmt: skip


class VaccineDelivery(Frozen):
    from_: dt.date = F("date", "first day its doses are given", alias="from")
    doses: float = F("doses", "doses delivered and given", gt=0.0, le=MAX_QUANTITY)
    weeks: int = F("weeks", "weeks over which they are given, evenly", ge=1, le=MAX_WEEKS)


class Vaccination(Frozen):
    """Vaccine doses arriving and given to the whole population at random (those already
    infected or recovered too: the campaign does not test first), pro rata to population. A
    course cuts a person's chance of infection by `efficacy_infection` and of death by
    `efficacy_death` (see `models/seir.py`)."""

    deliveries: tuple[VaccineDelivery, ...] = F("list", "doses by date", min_length=1)
    doses_per_course: float = F("doses/person", "doses in one course", default=2.0, ge=1.0,
                                le=10.0)  # fmt: skip
    efficacy_infection: float = F("1", "share by which a course cuts the chance of infection",
                                  ge=0.0, le=1.0)  # fmt: skip
    efficacy_death: float = F("1", "share by which a course cuts the chance of death",
                              ge=0.0, le=1.0)  # fmt: skip

    @model_validator(mode="after")
    def _death_at_least_infection(self) -> Vaccination:
        if self.efficacy_infection > self.efficacy_death:
            raise ValueError(
                f"efficacy_infection ({self.efficacy_infection}) must not exceed efficacy_death "
                f"({self.efficacy_death}): a course that prevents an infection prevents its death"
            )
        return self

    def describe(self) -> str:
        doses = sum(d.doses for d in self.deliveries)
        first = min(d.from_ for d in self.deliveries)
        return (f"{doses:,.0f} vaccine doses from {first.isoformat()} "
                f"({self.efficacy_infection:.0%} against infection, "
                f"{self.efficacy_death:.0%} against death)")  # fmt: skip


class Epidemic(Frozen):
    """SEIR parameters (see `models/seir.py` for the model). Defaults are sourced figures from
    the team's fact sheet or labelled assumptions; a scenario may restate any of them."""

    r0: float = F("1", "reproduction number in the community before detection, isolation and "
                  "contact reduction", gt=0.0, le=20.0)  # fmt: skip
    latent_days: float = F("d", "mean time from infection to infectiousness", ge=0.1, le=60.0)
    presymptomatic_days: float = F(
        "d", "mean infectious time before symptom onset (He et al. Nat Med 2020: from 2.3 d "
        "before onset)", default=2.3, ge=0.0, le=30.0,
    )  # fmt: skip
    infectious_days: float = F("d", "mean infectious period after symptom onset", ge=0.1, le=60.0)
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
    stay_days: float = F("d", "mean length of hospital stay", ge=0.1, le=365.0)
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
    contact_reduction: tuple[ContactReduction, ...] = F(
        "list", "contact-reduction schedule (lockdown), in date order", default=()
    )
    mobility: Mobility = F("-", "gravity-model mixing between provinces")
    outlook_weeks: int = F(
        "weeks", "weeks from start_date the epidemic is followed: the counted window, deaths "
        "to its end value the plan", default=104, ge=1, le=520,
    )  # fmt: skip
    after_horizon: AfterHorizon = F(
        "-", "what the aid does from the horizon to the end of the outlook",
        default=AfterHorizon(),
    )  # fmt: skip
    vaccination: Vaccination | None = F(
        "-", "vaccine doses arriving, and what a course protects against; none if left out",
        default=None,
    )  # fmt: skip
    initial_infections: dict[Identifier, Annotated[float, Field(le=10**10)]] | None = F(
        "persons", "seed infections per province; replaces provinces.csv's column; each at most "
        "1e10", default=None,
    )  # fmt: skip
    initial_infections_factor: float = F(
        "1", "multiplies every province's seed infections, for stress tests and uncertainty "
        "blocks (--set epidemic.initial_infections_factor=2)", default=1.0, gt=0.0, le=1e6,
    )  # fmt: skip

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
        for name in ("presymptomatic_days", "test_turnaround_days"):
            if 0.0 < getattr(self, name) < 0.1:
                raise ValueError(
                    f"{name} ({getattr(self, name)}) must be 0 (no such stage) or at least 0.1 d"
                )
        dates = [c.from_ for c in self.contact_reduction]
        if dates != sorted(dates):
            raise ValueError(f"contact_reduction dates must be in order, got {dates}")
        return self


class Staff(Frozen):
    teams_per_week: float = F("teams/week", "ROK medical teams that can leave each week", ge=0,
                              le=1e6)  # fmt: skip
    staff_per_team: int = F("persons", "staff in one team", gt=0, le=10_000)
    patients_per_team: float = F("patients", "hospital patients one team cares for", ge=0.1, le=1e6)
    deployment_weeks: int = F("weeks", "how long a team stays once deployed", ge=1, le=520)
    cost_usd_per_team_week: float = F(
        "USD/(team week)", "cost of keeping one team deployed for a week", ge=0.0, le=MAX_USD
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
        "USD/death", "spending weighs as one death per this many dollars", ge=1, le=MAX_QUANTITY
    )
    budget_usd: float | None = F(
        "USD", "cap on procurement, transport and medical teams", default=None, ge=0, le=1e15
    )
    unmet_penalty: dict[Identifier, Penalty] = F(
        "-", "with needs.csv: the cost of need left unmet, per commodity id (or medical_team); "
        "items not named weigh one death per unit of their mean weekly need", default={},
    )  # fmt: skip
    robustness: Literal["nominal", "expected", "cvar"] = F(
        "-", "the deaths a plan is judged by: of the scenario's epidemic (nominal); their mean "
        "over the uncertainty block's draws (expected); or the mean of the worst cvar_share of "
        "them (cvar)", default="nominal",
    )  # fmt: skip
    cvar_share: float = F("1", "cvar: the share of worst draws whose mean deaths count",
                          default=0.1, gt=0.0, le=1.0)  # fmt: skip


class Coupling(Frozen):
    """How the epidemic and the LP meet. The closed loop is sequential linear programming
    with a trust region on coverage; see `optimiser/coupling.py`."""

    mode: Literal["one-way", "closed-loop"] = F("-", "epidemic -> LP once, or iterate")
    max_iterations: int = F("iterations", "closed-loop iteration limit", ge=1, le=500)
    tolerance: float = F(
        "1", "the convergence band: converged when the last `stall_steps` kept steps together "
        "averted fewer deaths than this share of the current deaths (plus half a death); "
        "starts that end further apart disagree", gt=0.0, le=1.0,
    )  # fmt: skip
    trust_region: float = F(
        "1", "initial largest change of any coverage in one iteration", default=0.25,
        gt=0.0, le=1.0,
    )  # fmt: skip
    min_trust_region: float = F(
        "1", "converged when no step this large or larger improves the plan", default=1e-3,
        gt=0.0, le=0.5,
    )  # fmt: skip
    stall_steps: int = F(
        "steps", "converged (\"stalled\") when the last this many kept steps together lowered "
        "the merit by less than `tolerance` of the deaths (plus half a death)", default=3,
        ge=1, le=50,
    )  # fmt: skip
    multi_start: bool = F(
        "-", "also start the closed loop from each rule of thumb (`optimiser.rules`) and report "
        "the best end with the spread of the others (a warm start is the only start); off by "
        "default: on korea-2020 the starts ended 21,871 deaths apart, far outside the "
        "band of 169, at 2.7 times the time (README, the closed loop)",
        default=False,
    )  # fmt: skip
    warm_start: str | None = F(
        "file", "a plan.nc an earlier run wrote (relative to the working folder): the loop "
        "starts from its aid instead of from no aid; the first step may lower any aid to 0, so "
        "it starts from a plan of this scenario whatever changed", default=None,
    )  # fmt: skip


class Solver(Frozen):
    method: Literal["auto", "simplex", "ipm"] = F(
        "-", "HiGHS algorithm; auto is the dual simplex method, warm from the last basis while "
        "a re-solve takes no more iterations than the last cold solve, cold after (measured; "
        "see the README's performance section)",
        default="auto",
    )  # fmt: skip
    time_limit_s: float | None = F("s", "HiGHS time limit per solve", default=None, gt=0,
                                   le=1e6)  # fmt: skip
    backend: Literal["arrays", "pyomo"] = F(
        "-", "how the LP reaches the solver: arrays passed to HiGHS in one call, or the Pyomo "
        "model (optimiser/lp_pyomo.py) built once and re-solved through a persistent "
        "interface, its bounds and costs changed in place (measured: see the README's "
        "performance section)",
        default="arrays",
    )  # fmt: skip
    pyomo_solver: Identifier = F(
        "-", "with backend pyomo: the Pyomo solver name (highs through pyomo.contrib.solver, "
        "persistent; any other name through pyomo's SolverFactory, e.g. cbc, glpk, "
        "gurobi_persistent, cplex_persistent, where installed and licensed)",
        default="highs",
    )  # fmt: skip


FITTABLE = ("r0", "reduction", "reporting", "seed", "severity", "weekday")
"""Parameters `aidopt calibrate` can fit: R0, the contact reduction from the lockdown date (one
step, or one per knot with `calibration.knot_days`), the share of symptomatic onsets reported,
the seed (infections at start_date), the hospital share of symptomatic cases (`severity`, which
sets the model's infection fatality ratio) and the weekday pattern of the reports."""
Fittable = Literal["r0", "reduction", "reporting", "seed", "severity", "weekday"]
DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {
    "r0": (0.8, 20.0), "reduction": (0.0, 0.95), "reporting": (0.001, 1.0), "seed": (1.0, 1.0e6),
    "severity": (1.0e-4, 0.2), "weekday": (-1.0, 1.0),
}  # fmt: skip
"""Search bounds in natural units; `weekday` is the log of a day's reporting factor."""


class Prior(Frozen):
    """A log-normal prior on a quantity of the fitted no-aid epidemic at a date, with the band
    a sourced answer must fall in."""

    median: float = F("1", "median of the prior", gt=0)
    log_sd: float = F("1", "standard deviation of its natural log", gt=0, le=5)
    band: tuple[float, float] = F("1", "the sourced range the fitted value should lie in")
    at: dt.date = F("date", "the day the quantity is counted to")
    source: str = F("text", "where the median and the band come from", min_length=1)

    @model_validator(mode="after")
    def _band_in_order(self) -> Prior:
        if not 0 < self.band[0] <= self.band[1]:
            raise ValueError(f"band must be two positive values in order, got {list(self.band)}")
        return self


class Priors(Frozen):
    """What published analyses say about the outbreak the reports show; each adds one term to
    the fit's loss."""

    attack_rate: Prior | None = F("1", "share of the population infected by `at`", default=None)
    infection_fatality: Prior | None = F(
        "1", "deaths by `at` over infections by `at` in the no-aid model", default=None
    )
    deaths: Prior | None = F(
        "persons",
        "deaths by `at`: a band only (checked, not fitted; median and log_sd shown)",
        default=None,
    )


class Calibration(Frozen):
    lockdown_date: dt.date | None = F(
        "date", "the fitted contact reduction applies from this day", default=None
    )
    report_delay_days: int = F("d", "days from onset to report", default=0, ge=0, le=30)
    reporting: float = F(
        "1", "share of onsets reported, when it is not fitted", default=1.0, gt=0, le=1
    )
    fit: tuple[Fittable, ...] = F("names", "parameters to fit by default", default=FITTABLE[:4])
    starts: int = F("starts", "multi-start points for the fit", default=8, ge=1, le=64)
    local_fits: int = F(
        "fits", "the best starts refined by a local fit, the best of them kept", default=3,
        ge=1, le=64,
    )  # fmt: skip
    bounds: dict[Fittable, tuple[float, float]] = F(
        "natural units", "search bounds per parameter (those not named keep the defaults)",
        default=DEFAULT_BOUNDS,
    )  # fmt: skip
    likelihood: Literal["sqrt-least-squares", "negative-binomial"] = F(
        "name", "sqrt-least-squares: least squares on sqrt(counts); negative-binomial: the "
        "counts' likelihood with a fitted dispersion", default="sqrt-least-squares",
    )  # fmt: skip
    knot_days: int | None = F(
        "d", "with a value, a contact reduction is fitted every knot_days from lockdown_date "
        "(each knot followed by at least knot_days of fitted data); none: one step",
        default=None, ge=1, le=365,
    )  # fmt: skip
    knot_log_sd: float = F(
        "1", "smoothness: standard deviation of the change in log(1 - reduction) from one "
        "knot to the next", default=0.15, gt=0, le=10,
    )  # fmt: skip
    priors: Priors = F("block", "published figures the fit is held to", default=Priors())
    rolling_origins: tuple[dt.date, ...] = F(
        "dates", "cut-off dates `aidopt calibrate --rolling` forecasts from", default=()
    )


# --- demand: how needs are sized (WHO COVID-ESFT) -----------------------------------------
# Defaults are the ESFT's, as the public R package mrc-ide/esft carries them (files named in the
# descriptions); the shipped scenario.yaml files spell every value out with its source.


class Severity(Frozen):
    """ESFT's split of symptomatic cases by severity, and hospital stays by severity."""

    mild_share: float = F("1", "share of cases mild (esft R/parameters.R)", default=0.4, ge=0, le=1)
    moderate_share: float = F("1", "share moderate (esft)", default=0.4, ge=0, le=1)
    severe_share: float = F("1", "share severe, in hospital (esft)", default=0.15, ge=0, le=1)
    critical_share: float = F("1", "share critical, in hospital (esft)", default=0.05, ge=0, le=1)
    severe_stay_days: float = F("d", "hospital stay of a severe case (esft: 1 week)", default=7.0,
                                gt=0)  # fmt: skip
    critical_stay_days: float = F("d", "hospital stay of a critical case (esft: 2 weeks)",
                                  default=14.0, gt=0)  # fmt: skip

    @model_validator(mode="after")
    def _shares_add_to_one(self) -> Severity:
        total = self.mild_share + self.moderate_share + self.severe_share + self.critical_share
        if abs(total - 1.0) > 1e-6 or self.severe_share + self.critical_share <= 0:
            raise ValueError(
                f"severity shares must add to 1 with some in hospital, got {total:.6g} "
                f"(severe {self.severe_share}, critical {self.critical_share})"
            )
        return self

    @property
    def critical_bed_share(self) -> float:
        """Critical beds' share of hospital beds in use in steady state [1]."""
        severe = self.severe_share * self.severe_stay_days
        critical = self.critical_share * self.critical_stay_days
        return critical / (severe + critical)


class Staffing(Frozen):
    """Staff the need calls for, per patient, bed, screening or lab (ESFT)."""

    care_hours_per_severe_patient_day: float = F(
        "h/patient-day", "health-worker time a severe inpatient needs a day (esft HWFE sheet, "
        "sum over its HCW group)", default=18.224, ge=0,
    )  # fmt: skip
    care_hours_per_critical_patient_day: float = F(
        "h/patient-day", "the same for a critical inpatient (esft HWFE sheet)", default=32.689,
        ge=0,
    )  # fmt: skip
    shift_hours: float = F("h", "hours of one worker's shift (esft)", default=8.0, gt=0)
    cleaners_per_severe_bed: float = F(
        "persons/bed", "inpatient cleaners on duty per severe bed (esft hcw_caps: 0.5 h/24 h / "
        "8 h x 10)", default=0.625, ge=0,
    )  # fmt: skip
    cleaners_per_critical_bed: float = F(
        "persons/bed", "the same per critical bed (esft: 0.75 h/24 h / 8 h x 10)", default=0.9375,
        ge=0,
    )  # fmt: skip
    ambulance_staff_per_bed: float = F(
        "persons/bed", "ambulance staff on duty per bed in use (esft)", default=0.06, ge=0
    )
    biomedical_engineers_per_bed: float = F(
        "persons/bed", "biomedical engineers on duty per bed in use (esft)", default=0.02, ge=0
    )
    screenings_per_worker_day: float = F(
        "screenings/worker-day", "suspects one screening/triage worker sees a day (esft: 48 min "
        "each in an 8-h shift)", default=10.0, gt=0,
    )  # fmt: skip
    lab_technicians_per_lab: float = F(
        "persons/lab", "lab technicians on duty per lab (esft)", default=3.0, ge=0
    )
    lab_cleaners_per_lab: float = F("persons/lab", "cleaners per lab (esft)", default=1.0, ge=0)
    home_caregivers_per_isolated_patient: float = F(
        "persons/patient", "informal caregivers per person isolated (esft)", default=1.0, ge=0
    )


class Labs(Frozen):
    """What a province's GeneXpert modules can process (ESFT platform tables)."""

    modules_per_lab: float = F("modules/lab", "GeneXpert modules per lab (esft)", default=4, gt=0)
    tests_per_module_day: float = F(
        "tests/(module d)", "GeneXpert throughput in one 8-h shift (esft: 10; 21 in 16 h, 42 in "
        "24 h)", default=10.0, ge=0,
    )  # fmt: skip
    days_per_week: float = F("d/week", "days a week the labs run (esft)", default=5, ge=0, le=7)
    covid_share: float = F(
        "1", "share of near-patient PCR capacity given to COVID-19 (esft)", default=0.5, ge=0, le=1
    )


class DiagnosticTesting(Frozen):
    """The testing programme: a surveillance floor and ESFT's strategy on top of it."""

    floor_per_1000_per_week: float = F(
        "tests/(1000 persons week)", "surveillance floor (WHO public health criteria, May 2020)",
        default=1.0, ge=0,
    )  # fmt: skip
    background_suspects_per_1000_per_week: float = F(
        "persons/(1000 persons week)", "people with other fevers who count as suspected cases "
        "and are tested: with the symptomatic COVID-19 cases they make the suspects, so that "
        "test positivity, cases / suspects, rises with prevalence (assumption)", default=2.0,
        ge=0, le=1000,
    )  # fmt: skip
    tests_per_case: float = F("tests/case", "diagnostic tests per case (esft)", default=1.0, ge=0)
    release_tests_per_survivor: float = F(
        "tests/discharge", "release tests per hospital patient leaving alive (esft)", default=1.0,
        ge=0,
    )  # fmt: skip
    contacts_per_case: float = F(
        "contacts/test", "contacts per positive test (esft: 5, 10 or 15 by distancing)",
        default=10.0, ge=0,
    )  # fmt: skip
    contacts_tested_share: float = F(
        "1", "share of contacts tested (esft)", default=0.6, ge=0, le=1
    )
    tests_per_staff_per_week: float = F(
        "tests/(person week)", "tests of every COVID-19 worker a week (esft)", default=1.0, ge=0
    )


class Distribution(Frozen):
    """How one input varies, in a sweep file or a scenario's `uncertainty` block. Values are in
    the unit of the `--set` field they replace (or, with `scale`, factors of the value already
    there)."""

    uniform: tuple[float, float] | None = F("field's unit", "low and high bound", default=None)
    log_uniform: tuple[float, float] | None = Field(
        default=None, alias="log-uniform",
        description="low and high bound, both above 0; uniform in the logarithm [field's unit]",
    )  # fmt: skip
    normal: tuple[float, float] | None = F("field's unit", "mean and standard deviation",
                                           default=None)  # fmt: skip
    triangular: tuple[float, float, float] | None = F(
        "field's unit", "low bound, mode and high bound", default=None
    )
    values: tuple[Any, ...] | None = F("-", "the values to choose among, equally likely",
                                       default=None, min_length=1)  # fmt: skip
    scale: bool = F("-", "write the value as *VALUE: a factor on the value already there",
                    default=False)  # fmt: skip
    integer: bool = F("-", "round the value to a whole number", default=False)

    @model_validator(mode="after")
    def _one_distribution(self) -> Distribution:
        given = [k for k in ("uniform", "log_uniform", "normal", "triangular", "values")
                 if getattr(self, k) is not None]  # fmt: skip
        if len(given) != 1:
            raise ValueError("give exactly one of uniform, log-uniform, normal, triangular or "
                             f"values (given: {', '.join(given) or 'none'})")  # fmt: skip
        if self.uniform and not self.uniform[0] < self.uniform[1]:
            raise ValueError(f"uniform: the low bound must be below the high one: {self.uniform}")
        if self.log_uniform and not 0 < self.log_uniform[0] < self.log_uniform[1]:
            raise ValueError(f"log-uniform: need 0 < low < high, got {list(self.log_uniform)}")
        if self.normal and not self.normal[1] > 0:
            raise ValueError(f"normal: the standard deviation must be above 0: {self.normal}")
        t = self.triangular
        if t and not (t[0] <= t[1] <= t[2] and t[0] < t[2]):
            raise ValueError(f"triangular: need low <= mode <= high, low < high: {list(t)}")
        if self.values is not None and (self.scale or self.integer):
            raise ValueError("values: scale and integer apply to distributions, not to a list")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("uniform", "log_uniform", "normal", "triangular", "values")
                    if getattr(self, k) is not None)  # fmt: skip


def uncertain_path(path: str) -> bool:
    """What an `uncertainty` block may vary: what the epidemic is (its parameters, the seed
    infections, the background of other fevers). Routes, supplies and sanctions are the
    constraints a plan is made under, taken as given (vary them with `aidopt sweep`). Draws
    integrate side by side, so they share the provinces' mixing and the outlook: those two are
    not drawn either."""
    shared = path.startswith("epidemic.mobility.") or path == "epidemic.outlook_weeks"
    return (
        (path.startswith("epidemic.") and not shared)
        or (path.startswith("provinces.") and path.endswith(".initial_infections"))
        or path == "demand.testing.background_suspects_per_1000_per_week"
    )


class Uncertainty(Frozen):
    """The epidemics the plan cannot rule out: `draws` parameter sets drawn by Latin hypercube
    from these distributions. `aidopt run --draws N` reports deaths over them, and a robust
    `objective.robustness` plans against them."""

    draws: int = F("draws", "epidemics drawn", default=100, ge=2, le=10_000)
    seed: int = F("-", "seed of the draws' random numbers", default=0, ge=0, le=2**32 - 1)
    parameters: dict[str, Distribution] = F(
        "-", "--set path -> distribution, e.g. epidemic.r0: {triangular: [1.4, 2.2, 3.9]} or "
        "provinces.*.initial_infections: {log-uniform: [0.5, 2], scale: true}", min_length=1,
    )  # fmt: skip

    @model_validator(mode="after")
    def _epidemic_only(self) -> Uncertainty:
        for path, dist in self.parameters.items():
            if not uncertain_path(path):
                raise ValueError(
                    f"parameters: {path!r}: an uncertainty block varies the epidemic (epidemic."
                    "FIELD but mobility and outlook_weeks, which drawn epidemics integrated "
                    "side by side share; provinces.ROW.initial_infections, demand.testing."
                    "background_suspects_per_1000_per_week); routes, supplies and sanctions "
                    "are what a plan is made under: vary them with aidopt sweep"
                )
            if dist.values is not None and not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in dist.values
            ):
                raise ValueError(f"parameters: {path!r}: values must be numbers here")
        return self


class Demand(Frozen):
    severity: Severity = F("-", "case severity and hospital stays", default=Severity())
    staffing: Staffing = F("-", "staffing ratios", default=Staffing())
    labs: Labs = F("-", "laboratory throughput", default=Labs())
    testing: DiagnosticTesting = F("-", "testing programme", default=DiagnosticTesting())


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
    demand: Demand = F("-", "how needs are sized (WHO COVID-ESFT)", default=Demand())
    uncertainty: Uncertainty | None = F(
        "-", "distributions of the epidemic's parameters, for ensembles and robust plans",
        default=None,
    )  # fmt: skip

    @model_validator(mode="after")
    def _pyomo_backend_fits(self) -> ScenarioConfig:
        if self.solver.backend != "pyomo":
            return self
        if self.tables.needs is not None:
            raise ValueError("solver.backend pyomo keeps the LP's matrix as built, and the team "
                             "needs of tables.needs change it: use solver.backend arrays")
        if self.objective.robustness == "cvar":
            raise ValueError("solver.backend pyomo does not build the CVaR rows of objective."
                             "robustness cvar: use solver.backend arrays, or robustness "
                             "nominal or expected")
        return self

    @model_validator(mode="after")
    def _epidemic_fits(self) -> ScenarioConfig:
        if self.epidemic is None and self.tables.needs is None:
            raise ValueError("'epidemic' is missing; it may be left out only with tables.needs")
        if self.objective.robustness != "nominal" and self.uncertainty is None:
            raise ValueError(
                f"objective.robustness {self.objective.robustness} plans against the draws of "
                "an 'uncertainty' block, and there is none"
            )
        if self.epidemic is not None and self.epidemic.outlook_weeks < self.horizon_weeks:
            raise ValueError(
                f"epidemic.outlook_weeks ({self.epidemic.outlook_weeks}) must be at least "
                f"horizon_weeks ({self.horizon_weeks})"
            )
        return self


# --- sanctions.yaml --------------------------------------------------------------------------


class Unscr2397(Frozen):
    source: str = F("-", "where the rule comes from", min_length=1)
    hs_chapters: tuple[Annotated[int, Field(ge=1, le=99)], ...] = F(
        "HS chapter", "chapters barred from entering the DPRK; each from 1 to 99"
    )
    lifted_for: tuple[Identifier, ...] = F(
        "ids", "commodities the ban does not cover whatever their chapter (a carve-out)", default=()
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
    genexpert_modules: int = F("modules", "GeneXpert PCR modules for COVID-19 testing", ge=0,
                               le=10**6)  # fmt: skip
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
    adds_lab_tests_per_week: float = F(
        "tests/(unit week)", "laboratory capacity one unit in use adds (durables)", default=0.0,
        ge=0, le=1e6,
    )  # fmt: skip
    lot_units: float = F(
        "units/lot", "units in one whole lot (carton, pallet or piece) shipped; the whole-units "
        "stage (aidopt run --whole-units) ships whole lots, none smaller", default=1.0, gt=0,
        le=1e7,
    )  # fmt: skip
    source: str = F("-", "sources and assumptions", min_length=1)


STAFF = (
    "inpatient_hcw", "screening_hcw", "lab_technician", "inpatient_cleaner", "lab_cleaner",
    "ambulance_staff", "biomedical_engineer",
)  # fmt: skip
"""ESFT staff categories; each is a driver `<category>_day` in worker-days."""

DRIVERS: dict[str, str] = {
    **{f"{s}_day": "worker-days" for s in STAFF},
    "home_caregiver_day": "caregiver-days of informal caregivers of isolated patients",
    "severe_patient_day": "severe inpatient-days",
    "critical_patient_day": "critical inpatient-days",
    "hospital_patient_day": "inpatient-days, severe or critical",
    "isolated_patient_day": "person-days in isolation",
    "severe_bed": "severe beds in use at the week's peak (durables)",
    "critical_bed": "critical beds in use at the week's peak (durables)",
    "hospital_bed": "beds in use at the week's peak, severe or critical (durables)",
    "test": "tests in the testing programme",
}
"""What consumption.csv rates are per, with the unit of each (per week, per province)."""


class ConsumptionRow(Frozen):
    commodity: Identifier = F("-", "commodity id")
    driver: Identifier = F("-", "what the rate is per (see DRIVERS)")
    rate: float = F("units/driver unit", "units used per unit of the driver", ge=0)
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
    vehicle_t: float | None = F(
        "t/vehicle", "payload of one truck, wagon, container or flight; the whole-units stage "
        "sends whole ones (empty: the mode's default in optimiser/whole_units.py)",
        default=None, gt=0, le=1e5,
    )  # fmt: skip
    source: str = F("-", "sources and assumptions", min_length=1)


class NeedRow(Frozen):
    week: int = F("week", "plan week", ge=0, le=MAX_WEEKS)
    province: Identifier = F("-", "province id")
    commodity: Identifier = F("-", "commodity id, or 'medical_team' for staff")
    quantity: float = F("units", "units needed that week", ge=0, le=MAX_QUANTITY)
    source: str = F("-", "where the forecast comes from", default="planner's forecast")


TEAM = "medical_team"
"""The item name used for medical teams in needs.csv and in exported shipments."""
