"""The SEIR model against conservation laws, analytic results and monotonicity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from models import COMPARTMENTS, SEIRParameters, integrate, to_dataset, weekly_to_daily

D = COMPARTMENTS.index("D")
R = COMPARTMENTS.index("R")

BASE = SEIRParameters(
    r0=2.2, latent_days=4.6, infectious_days=7.0, hospital_share=0.03, stay_days=8.75,
    fatality_no_care=0.6, fatality_care=0.226, detection_base_per_day=0.02,
    detection_max_per_day=0.2,
)  # fmt: skip
POP = np.array([3.0e6, 1.0e6, 2.0e5])
MIXING = np.array([[0.97, 0.02, 0.01], [0.03, 0.95, 0.02], [0.05, 0.05, 0.90]])


def test_population_is_conserved_and_nothing_goes_negative():
    days = 180
    rng = np.random.default_rng(1)
    testing = weekly_to_daily(rng.uniform(0, 1, (3, days // 7 + 1)), days)
    care = weekly_to_daily(rng.uniform(0, 1, (3, days // 7 + 1)), days)
    people = integrate(
        BASE, POP, [100, 10, 0], days, mixing=MIXING, testing_coverage=testing,
        care_coverage=care, contact_factor=np.where(np.arange(days) < 30, 1.0, 0.7)[:, None],
    )[0]  # fmt: skip
    np.testing.assert_allclose(people.sum(axis=0), POP[:, None] * np.ones(days + 1), rtol=1e-9)
    # Only round-off below the absolute tolerance (1e-6 persons) may dip under zero.
    assert people.min() > -1e-4
    assert people[D, :, -1].sum() > 0


def test_final_size_matches_the_analytic_relation():
    """One province, no detection, no deaths: z = 1 - exp(-R0 z) for the share infected."""
    r0 = 2.0
    params = SEIRParameters(
        r0=r0, latent_days=4.6, infectious_days=7.0, hospital_share=0.0, stay_days=9.0,
        fatality_no_care=0.0, fatality_care=0.0, detection_base_per_day=0.0,
        detection_max_per_day=0.0,
    )  # fmt: skip
    people = integrate(params, [1.0e7], [10.0], 3 * 365)[0]
    z = brentq(lambda z: z - 1 + np.exp(-r0 * z), 0.01, 1.0)
    simulated = people[R, 0, -1] / 1.0e7
    assert simulated == pytest.approx(z, rel=0.005)
    assert people[D].max() == 0.0


def test_provinces_without_mobility_evolve_independently():
    days = 120
    together = integrate(BASE, POP[:2], [50.0, 5.0], days, mixing=np.eye(2))[0]
    for p, seed in enumerate([50.0, 5.0]):
        alone = integrate(BASE, POP[p : p + 1], [seed], days)[0]
        np.testing.assert_allclose(together[:, p], alone[:, 0], rtol=1e-5, atol=1e-3)


def test_mobility_carries_the_outbreak_to_an_unseeded_province():
    people = integrate(BASE, POP[:2], [50.0, 0.0], 120, mixing=[[0.98, 0.02], [0.02, 0.98]])[0]
    assert people[R, 1, -1] > 1.0
    alone = integrate(BASE, POP[:2], [50.0, 0.0], 120, mixing=np.eye(2))[0]
    assert alone[R, 1, -1] == 0.0


@pytest.mark.parametrize("lever", ["testing_coverage", "care_coverage"])
def test_more_coverage_never_gives_more_deaths(lever):
    days = 182
    levels = np.linspace(0.0, 1.0, 6)
    deaths = [
        integrate(BASE, POP, [100, 10, 0], days, mixing=MIXING, **{lever: np.full((days, 3), c)})[
            0, D, :, -1
        ].sum()
        for c in levels
    ]
    assert np.all(np.diff(deaths) < 0), deaths


def test_a_batch_matches_separate_runs():
    r0s = np.array([1.5, 2.2, 3.0])
    params = SEIRParameters(**{**vars(BASE), "r0": r0s})
    batch = integrate(params, POP, [100, 10, 0], 120, mixing=MIXING)
    assert batch.shape == (3, len(COMPARTMENTS), 3, 121)
    for b, r0 in enumerate(r0s):
        one = integrate(SEIRParameters(**{**vars(BASE), "r0": r0}), POP, [100, 10, 0], 120,
                        mixing=MIXING)[0]  # fmt: skip
        np.testing.assert_allclose(batch[b], one, rtol=1e-4, atol=1e-2)


def test_dataset_is_labelled():
    people = integrate(BASE, POP, [100, 10, 0], 14, mixing=MIXING)[0]
    ds = to_dataset(people, ["a", "b", "c"], "2020-04-06")
    assert ds["people"].dims == ("compartment", "province", "day")
    assert list(ds["compartment"].values) == list(COMPARTMENTS)
    assert str(ds["date"].values[-1])[:10] == "2020-04-20"
