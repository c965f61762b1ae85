"""The demand step: the epidemic's weekly drivers and the tables -> weekly needs.

A pure function of its inputs. Per province and week, the drivers (`optimiser.epidemic.Drivers`)

* symptomatic onsets, isolated patient-days, hospital patient-days,
* inpatient health-worker-days (hospital patient-days x workers per patient),
* occupied beds at the week's peak (for durable equipment, which is in use, not consumed),

are multiplied by each commodity's rates. Medical teams needed are the week's mean hospital
occupancy over the patients one team cares for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimiser.epidemic import Drivers
from optimiser.schema import CommodityRow, Epidemic, ProvinceRow, Staff


@dataclass(frozen=True)
class Needs:
    quantity: np.ndarray
    """(K, P, W) units of each commodity needed"""
    teams: np.ndarray
    """(P, W) medical teams needed"""
    lab_capacity: np.ndarray
    """(P,) tests the province's own laboratories can run a week"""


def weekly_needs(
    drivers: Drivers,
    commodities: tuple[CommodityRow, ...],
    provinces: tuple[ProvinceRow, ...],
    epidemic: Epidemic,
    staff: Staff,
) -> Needs:
    """Needs from one trajectory's drivers."""
    worker_days = drivers.hospital_days * epidemic.health_workers_per_hospital_patient
    rates = np.array(
        [
            [c.per_case, c.per_isolated_patient_day, c.per_hospital_patient_day,
             c.per_health_worker_day, c.per_occupied_bed]
            for c in commodities
        ]
    )  # fmt: skip
    stacked = np.stack([drivers.symptomatic_onsets, drivers.isolated_days, drivers.hospital_days,
                        worker_days, drivers.peak_hospital])  # fmt: skip
    quantity = np.einsum("kd,dpw->kpw", rates, stacked)
    return Needs(
        quantity=np.maximum(quantity, 0.0),
        teams=drivers.hospital_days / 7.0 / staff.patients_per_team,
        lab_capacity=np.full(len(provinces), np.inf),
    )
