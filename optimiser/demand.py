"""The demand step: an epidemic trajectory and the tables -> weekly needs.

A pure function of its inputs. Per province and week it measures the drivers

* new infectious cases (flow E -> I),
* isolated patient-days (integral of Q), hospital patient-days (integral of H),
* inpatient health-worker-days (hospital patient-days x workers per patient),
* occupied beds at the week's peak (for durable equipment, which is in use, not consumed),

and multiplies them by each commodity's rates. Medical teams needed are the week's mean hospital
occupancy over the patients one team cares for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.seir import E, H, Q, S
from optimiser.epidemic import weekly_integral
from optimiser.schema import CommodityRow, Epidemic, Staff


@dataclass(frozen=True)
class Needs:
    quantity: np.ndarray
    """(K, P, W) units of each commodity needed"""
    teams: np.ndarray
    """(P, W) medical teams needed"""
    cases: np.ndarray
    """(P, W) new infectious cases"""
    isolated_days: np.ndarray
    """(P, W) patient-days in isolation"""
    hospital_days: np.ndarray
    """(P, W) patient-days in hospital"""
    peak_beds: np.ndarray
    """(P, W) most hospital patients on any day of the week"""


def weekly_needs(
    people: np.ndarray,
    commodities: tuple[CommodityRow, ...],
    epidemic: Epidemic,
    staff: Staff,
    n_weeks: int,
) -> Needs:
    """Needs from one trajectory of persons per (compartment, province, day)."""
    # Cumulative onsets: everyone who left S, less those still in E.
    onsets = (people[S, :, :1] - people[S]) - (people[E] - people[E, :, :1])
    week_ends = 7 * np.arange(n_weeks + 1)
    cases = np.diff(onsets[:, week_ends], axis=1)
    isolated_days = weekly_integral(people[Q], n_weeks)
    hospital_days = weekly_integral(people[H], n_weeks)
    worker_days = hospital_days * epidemic.health_workers_per_hospital_patient
    hosp = people[H, :, : 7 * n_weeks + 1]
    peak_beds = np.stack([hosp[:, 7 * w : 7 * w + 8].max(axis=1) for w in range(n_weeks)], axis=1)

    rates = np.array(
        [
            [
                c.per_case,
                c.per_isolated_patient_day,
                c.per_hospital_patient_day,
                c.per_health_worker_day,
                c.per_occupied_bed,
            ]
            for c in commodities
        ]
    )
    drivers = np.stack([cases, isolated_days, hospital_days, worker_days, peak_beds])
    quantity = np.einsum("kd,dpw->kpw", rates, drivers)
    teams = hospital_days / 7.0 / staff.patients_per_team
    return Needs(
        quantity=np.maximum(quantity, 0.0),
        teams=teams,
        cases=cases,
        isolated_days=isolated_days,
        hospital_days=hospital_days,
        peak_beds=peak_beds,
    )
