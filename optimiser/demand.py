"""The demand step: what drives need -> weekly needs, sized as WHO's COVID-ESFT sizes them.

`weekly_needs` is a pure function of `Drivers` (flows and person-days per province and week from
one epidemic trajectory; it never looks at compartments) and the scenario's tables. The rules
and default figures are ESFT's (the public R package mrc-ide/esft); `optimiser/schema.py` holds
each default with its source. Per province and week:

Hospital. Patient-days H and the week's peak occupancy B split into severe and critical by ESFT's
steady-state mix: a share c = 0.05 x 14 d / (0.15 x 7 d + 0.05 x 14 d) = 0.4 is critical.

Staff, in worker-days a week (a person on duty every day of the week counts 7):

    inpatient health workers = (care h per severe patient-day x H_sev
                                + care h per critical patient-day x H_crit) / shift hours
    inpatient cleaners       = cleaners per severe bed x H_sev + per critical bed x H_crit
    ambulance staff, biomedical engineers = their ratio per bed x H
    screening and triage     = outpatients screened / screenings per worker-day (below)
    lab technicians, lab cleaners = 7 x labs x their ratio per lab   (fixed, epidemic or not)
    home caregivers          = isolated person-days x caregivers per isolated patient

Testing programme (issue 8 item 3 and ESFT's strategy):

    suspects        = symptomatic onsets + background fevers (background_suspects_per_1000_per_week
                      x population / 1000), so positivity = onsets / suspects rises with the
                      epidemic (ESFT's 10 negatives per positive hold where background is 10 x
                      onsets); the epidemic model tests the same suspects (`models/seir.py`)
    suspects tested = max(floor_per_1000_per_week x population / 1000, suspects)
    suspect tests   = tests_per_case x suspects tested
    release tests   = survivors leaving hospital x release tests per survivor
    contact tests   = contacts tested share x contacts per case x (onsets x tests_per_case
                      + release tests)    (ESFT counts contacts per positive test done)
    staff tests     = tests per staff member per week x staff on duty (worker-days / 7)
    tests = suspect + release + contact + staff tests

Every symptomatic onset counts, detected or not: the need is the programme that would test every
suspect, not the part of it that happened (`Drivers.detected` is carried for reports only).
Outpatients screened are the suspects tested less the severe and critical share of onsets, whom
ESFT diagnoses in hospital.

Labs: capacity = GeneXpert modules x tests per module-day x days per week x COVID-19 share; labs
= modules / modules per lab (both ESFT).

Commodities: quantity[k] = sum over drivers d of rate[k, d] x driver[d] (consumption.csv), in one
einsum. Medical teams: the week's mean hospital occupancy over the patients one team cares for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.seir import AID
from optimiser.epidemic import Drivers
from optimiser.schema import (
    DRIVERS,
    CommodityRow,
    ConsumptionRow,
    Demand,
    DiagnosticTesting,
    Labs,
    ProvinceRow,
    Staff,
)


@dataclass(frozen=True)
class Needs:
    quantity: np.ndarray
    """(K, P, W) units of each commodity needed, K in commodities.csv order"""
    teams: np.ndarray
    """(P, W) ROK medical teams needed: mean hospital occupancy / patients per team"""
    tests: np.ndarray
    """(P, W) tests in the testing programme, the surveillance floor included"""
    lab_capacity: np.ndarray
    """(P,) tests the province's own labs can process per week"""
    staff: dict[str, np.ndarray]
    """worker-days per ESFT staff category, each (P, W)"""
    tests_by_purpose: dict[str, np.ndarray]
    """tests per purpose (suspects, release, contacts, staff), each (P, W); they add to tests"""
    positivity: np.ndarray
    """(P, W) share of suspects' tests expected positive [1]"""


def background_suspects(population: np.ndarray, testing: DiagnosticTesting) -> np.ndarray:
    """(P,) people a week with other fevers who count as suspected cases."""
    return testing.background_suspects_per_1000_per_week * population / 1000.0


def positivity(onsets: np.ndarray, population: np.ndarray, testing: DiagnosticTesting):
    """Share of suspects who have COVID-19: onsets / (onsets + background), rising with the
    epidemic; zero where no one falls ill."""
    suspects = onsets + background_suspects(population, testing)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(suspects > 0, onsets / suspects, 0.0)


def lab_capacity(modules: np.ndarray, labs: Labs) -> np.ndarray:
    """Tests a week the GeneXpert modules can process for COVID-19."""
    return modules * labs.tests_per_module_day * labs.days_per_week * labs.covid_share


def staff_worker_days(
    drivers: Drivers, modules: np.ndarray, suspects: np.ndarray, demand: Demand
) -> dict[str, np.ndarray]:
    """Worker-days a week per ESFT staff category, (P, W) each."""
    sev, crit = split_by_severity(drivers.hospital_days, demand)
    ratio = demand.staffing
    hospital_cases = (demand.severity.severe_share + demand.severity.critical_share) * (
        drivers.symptomatic_onsets
    )
    outpatients = np.maximum(suspects - hospital_cases, 0.0)
    labs = (modules / demand.labs.modules_per_lab)[:, None] * np.ones_like(suspects)
    return {
        "inpatient_hcw": (
            ratio.care_hours_per_severe_patient_day * sev
            + ratio.care_hours_per_critical_patient_day * crit
        )
        / ratio.shift_hours,
        "screening_hcw": outpatients / ratio.screenings_per_worker_day,
        "lab_technician": 7.0 * labs * ratio.lab_technicians_per_lab,
        "inpatient_cleaner": ratio.cleaners_per_severe_bed * sev
        + ratio.cleaners_per_critical_bed * crit,
        "lab_cleaner": 7.0 * labs * ratio.lab_cleaners_per_lab,
        "ambulance_staff": ratio.ambulance_staff_per_bed * drivers.hospital_days,
        "biomedical_engineer": ratio.biomedical_engineers_per_bed * drivers.hospital_days,
    }


def split_by_severity(hospital: np.ndarray, demand: Demand) -> tuple[np.ndarray, np.ndarray]:
    """(severe, critical) parts of a hospital quantity, by ESFT's steady-state bed mix."""
    critical = demand.severity.critical_bed_share
    return hospital * (1.0 - critical), hospital * critical


def tests_needed(
    drivers: Drivers, staff: dict[str, np.ndarray], suspects: np.ndarray, testing: DiagnosticTesting
) -> dict[str, np.ndarray]:
    """Tests per purpose, (P, W) each (module docstring)."""
    release = testing.release_tests_per_survivor * drivers.discharges_alive
    positives = testing.tests_per_case * drivers.symptomatic_onsets + release
    on_duty = np.sum(list(staff.values()), axis=0) / 7.0
    return {
        "suspects": testing.tests_per_case * suspects,
        "release": release,
        "contacts": testing.contacts_tested_share * testing.contacts_per_case * positives,
        "staff": testing.tests_per_staff_per_week * on_duty,
    }


def suspects_tested(drivers: Drivers, testing: DiagnosticTesting) -> np.ndarray:
    """Persons tested as suspects: every symptomatic onset and every background fever, and
    never fewer than the surveillance floor."""
    suspects = drivers.symptomatic_onsets + background_suspects(drivers.population, testing)[
        :, None]  # fmt: skip
    floor = testing.floor_per_1000_per_week * drivers.population[:, None] / 1000.0
    return np.maximum(suspects, floor)


def driver_table(
    drivers: Drivers, staff: dict[str, np.ndarray], tests: np.ndarray, demand: Demand
) -> np.ndarray:
    """(len(DRIVERS), P, W): every consumption driver, in the order of `DRIVERS`."""
    sev_days, crit_days = split_by_severity(drivers.hospital_days, demand)
    sev_beds, crit_beds = split_by_severity(drivers.peak_hospital, demand)
    values = {f"{name}_day": days for name, days in staff.items()} | {
        "home_caregiver_day": demand.staffing.home_caregivers_per_isolated_patient
        * drivers.isolated_days,
        "severe_patient_day": sev_days,
        "critical_patient_day": crit_days,
        "hospital_patient_day": drivers.hospital_days,
        "isolated_patient_day": drivers.isolated_days,
        "severe_bed": sev_beds,
        "critical_bed": crit_beds,
        "hospital_bed": drivers.peak_hospital,
        "test": tests,
    }
    return np.stack([values[d] for d in DRIVERS])


def rate_matrix(
    commodities: tuple[CommodityRow, ...], consumption: tuple[ConsumptionRow, ...]
) -> np.ndarray:
    """(K, len(DRIVERS)) units of each commodity per unit of each driver."""
    k_index = {c.id: k for k, c in enumerate(commodities)}
    d_index = {d: i for i, d in enumerate(DRIVERS)}
    rates = np.zeros((len(commodities), len(DRIVERS)))
    for row in consumption:
        rates[k_index[row.commodity], d_index[row.driver]] = row.rate
    return rates


def weekly_needs(
    drivers: Drivers,
    commodities: tuple[CommodityRow, ...],
    consumption: tuple[ConsumptionRow, ...],
    provinces: tuple[ProvinceRow, ...],
    demand: Demand,
    staff: Staff,
) -> Needs:
    """Needs per (commodity, province, week), teams, tests and lab capacity from the drivers."""
    modules = np.array([p.genexpert_modules for p in provinces], dtype=float)
    suspects = suspects_tested(drivers, demand.testing)
    workers = staff_worker_days(drivers, modules, suspects, demand)
    by_purpose = tests_needed(drivers, workers, suspects, demand.testing)
    tests = np.sum(list(by_purpose.values()), axis=0)
    table = driver_table(drivers, workers, tests, demand)
    quantity = np.einsum("kd,dpw->kpw", rate_matrix(commodities, consumption), table)
    return Needs(
        quantity=np.maximum(quantity, 0.0),
        teams=drivers.hospital_days / 7.0 / staff.patients_per_team,
        tests=tests,
        lab_capacity=lab_capacity(modules, demand.labs),
        staff=workers,
        tests_by_purpose=by_purpose,
        positivity=positivity(drivers.symptomatic_onsets, drivers.population, demand.testing),
    )


def recipes(
    commodities: tuple[CommodityRow, ...], consumption: tuple[ConsumptionRow, ...], demand: Demand
) -> np.ndarray:
    """(K, capacity) units of each commodity one unit of each aid capacity (`models.seir.AID`)
    takes, from the same rates: a test (the test, its sample kit, the screening it needs, the
    laboratory staff a test at full laboratory use needs); an isolated person-day (the patient
    and their caregiver); a hospital patient-day (the patient and the staff, cleaners, ambulance
    and biomedical staff ESFT gives a patient, at the steady-state severity mix); a patient in
    an equipped care bed (equipment in use, durables). Medical teams add care beds without
    equipment: they bring their own."""
    ratio, labs = demand.staffing, demand.labs
    critical = demand.severity.critical_bed_share
    tests_per_lab_week = labs.modules_per_lab * labs.tests_per_module_day * labs.days_per_week * (
        labs.covid_share)  # fmt: skip
    per_unit = {
        "tests": {
            "test": 1.0,
            "screening_hcw_day": 1.0 / ratio.screenings_per_worker_day,
            "lab_technician_day": 7.0 * ratio.lab_technicians_per_lab / tests_per_lab_week,
            "lab_cleaner_day": 7.0 * ratio.lab_cleaners_per_lab / tests_per_lab_week,
        },
        "isolation": {
            "isolated_patient_day": 1.0,
            "home_caregiver_day": ratio.home_caregivers_per_isolated_patient,
        },
        "hospital": {
            "hospital_patient_day": 1.0,
            "severe_patient_day": 1.0 - critical,
            "critical_patient_day": critical,
            "inpatient_hcw_day": ((1.0 - critical) * ratio.care_hours_per_severe_patient_day
                                  + critical * ratio.care_hours_per_critical_patient_day)
            / ratio.shift_hours,
            "inpatient_cleaner_day": (1.0 - critical) * ratio.cleaners_per_severe_bed
            + critical * ratio.cleaners_per_critical_bed,
            "ambulance_staff_day": ratio.ambulance_staff_per_bed,
            "biomedical_engineer_day": ratio.biomedical_engineers_per_bed,
        },
        "care": {"hospital_bed": 1.0, "severe_bed": 1.0 - critical, "critical_bed": critical},
    }  # fmt: skip
    intensity = np.zeros((len(DRIVERS), len(AID)))
    names = list(DRIVERS)
    for a, capacity in enumerate(AID):
        for driver, amount in per_unit[capacity].items():
            intensity[names.index(driver), a] = amount
    return rate_matrix(commodities, consumption) @ intensity


__all__ = ["Drivers", "Needs", "recipes", "weekly_needs"]
