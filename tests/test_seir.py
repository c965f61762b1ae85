"""The SEIR model against conservation laws, analytic results, an independent integrator of the
plain model, its own next-generation matrix, and finite differences of its adjoint."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from models import seir
from models.adjoint import deaths_gradient
from models.seir import (
    AID,
    COMPARTMENTS,
    STATES,
    Model,
    SEIRParameters,
    integrate,
    next_generation_matrix,
    reproduction_number,
    to_dataset,
    weekly_to_daily,
)

D, R, S, E = (STATES.index(c) for c in "DRSE")
PLAIN = dict(
    r0=2.2, latent_days=4.6, infectious_days=7.0, hospital_share=0.03, stay_days=8.75,
    fatality_no_care=0.6, fatality_care=0.226, detection_base_per_day=0.02,
    detection_max_per_day=0.2,
)  # fmt: skip
FULL = dict(
    PLAIN, latent_days=2.9, presymptomatic_days=2.3, infectious_days=2.9, asymptomatic_share=0.2,
    asymptomatic_relative_infectiousness=0.35, tracing_relative_rate=0.2,
    test_turnaround_days=1.0, isolation_efficacy=0.8, isolation_efficacy_no_ipc=0.4,
    domestic_care_share=0.4, domestic_care_capacity=np.array([[200.0, 100.0, 30.0]]),
    background_suspects_per_day=np.array([[300.0, 100.0, 20.0]]),
)  # fmt: skip
POP = np.array([3.0e6, 1.0e6, 2.0e5])
MIXING = np.array([[0.97, 0.02, 0.01], [0.03, 0.95, 0.02], [0.05, 0.05, 0.90]])
AID_SCALE = np.array([400.0, 300.0, 60.0, 80.0])
"""Typical aid per capacity (tests a day, persons) for these tests' random plans."""


def random_aid(rng, weeks: int, days: int) -> np.ndarray:
    return weekly_to_daily(rng.uniform(0, 1, (4, 3, weeks)) * AID_SCALE[:, None, None], days)


def plain_model(days: int, contact: np.ndarray) -> np.ndarray:
    """The S-E-I-Q-H-R-D model written out independently, no aid: (compartment, P, day)."""
    p = PLAIN
    beta, sigma, gamma = p["r0"] / p["infectious_days"], 1 / p["latent_days"], 1 / p[
        "infectious_days"]  # fmt: skip

    def rhs(t, y):
        s, e, i, q, h, r, d = y.reshape(7, 3)
        new = beta * contact[min(int(t), days - 1)] * s * (MIXING @ (i / POP))
        ends = gamma * (i + q)
        return np.concatenate([
            -new, new - sigma * e, sigma * e - p["detection_base_per_day"] * i - gamma * i,
            p["detection_base_per_day"] * i - gamma * q, p["hospital_share"] * ends - h / p[
                "stay_days"],
            (1 - p["hospital_share"]) * ends + (1 - p["fatality_no_care"]) * h / p["stay_days"],
            p["fatality_no_care"] * h / p["stay_days"],
        ])  # fmt: skip

    y0 = np.concatenate([POP - [100, 10, 0], [100, 10, 0], np.zeros(15)])
    breaks = [0, 30, days]
    out = [y0[:, None]]
    for a, b in zip(breaks[:-1], breaks[1:], strict=True):
        sol = solve_ivp(rhs, (a, b), out[-1][:, -1], t_eval=np.arange(a + 1, b + 1), rtol=1e-10,
                        atol=1e-8)  # fmt: skip
        out.append(sol.y)
    return np.concatenate(out, axis=1).reshape(7, 3, days + 1)


def test_the_plain_model_is_reproduced_without_aid():
    """presymptomatic_days, asymptomatic_share, test_turnaround_days 0, isolation efficacies 1
    and no domestic care give today's S-E-I-Q-H-R-D model, to 1e-6 in deaths and infections."""
    days = 182
    contact = np.where(np.arange(days) < 30, 1.0, 0.7)
    reference = plain_model(days, contact)
    people = integrate(
        SEIRParameters(**PLAIN),
        POP,
        [100, 10, 0],
        days,
        mixing=MIXING,
        contact_factor=contact[:, None] * np.ones(3),
        rtol=1e-10,
        atol=1e-8,
    )[0]
    deaths, infections = people[D, :, -1].sum(), (POP - people[S, :, -1]).sum()
    assert deaths == pytest.approx(reference[6, :, -1].sum(), rel=1e-6)
    assert infections == pytest.approx((POP - reference[0, :, -1]).sum(), rel=1e-6)
    for name in ("P", "A", "T", "QP", "QA"):
        assert people[COMPARTMENTS.index(name)].max() == 0.0


def test_population_is_conserved_and_nothing_goes_negative():
    days = 180
    aid = random_aid(np.random.default_rng(1), days // 7 + 1, days)
    people = integrate(
        SEIRParameters(**FULL),
        POP,
        [100, 10, 0],
        days,
        mixing=MIXING,
        aid=aid,
        contact_factor=np.where(np.arange(days) < 30, 1.0, 0.7)[:, None],
    )[0]
    alive_and_dead = people[: len(COMPARTMENTS)].sum(axis=0)
    np.testing.assert_allclose(alive_and_dead, POP[:, None] * np.ones(days + 1), rtol=1e-9)
    # Only round-off below the absolute tolerance (1e-6 persons) may dip under zero.
    assert people.min() > -1e-4
    assert people[D, :, -1].sum() > 0
    # The running totals never fall.
    assert (np.diff(people[len(COMPARTMENTS) :], axis=-1) > -1e-6).all()


def test_final_size_matches_the_analytic_relation():
    """One province, no detection, no hospital: z = 1 - exp(-R0 z), with presymptomatic and
    asymptomatic spread, because r0 counts a case's whole infectious time in the community."""
    r0 = 2.0
    params = SEIRParameters(**{**FULL, "r0": r0, "hospital_share": 0.0,
                               "detection_base_per_day": 0.0, "detection_max_per_day": 0.0,
                               "domestic_care_capacity": np.inf,
                               "background_suspects_per_day": 0.0})  # fmt: skip
    people = integrate(params, [1.0e7], [10.0], 3 * 365)[0]
    z = brentq(lambda z: z - 1 + np.exp(-r0 * z), 0.01, 1.0)
    assert people[R, 0, -1] / 1.0e7 == pytest.approx(z, rel=0.005)
    assert reproduction_number(params, [1.0e7]) == pytest.approx(r0, rel=1e-9)


def test_provinces_without_mobility_evolve_independently():
    days = 120
    params = SEIRParameters(**{**FULL, "domestic_care_capacity": 150.0,
                               "background_suspects_per_day": 50.0})  # fmt: skip
    together = integrate(params, POP[:2], [50.0, 5.0], days, mixing=np.eye(2))[0]
    for p, seed in enumerate([50.0, 5.0]):
        alone = integrate(params, POP[p : p + 1], [seed], days)[0]
        np.testing.assert_allclose(together[:, p], alone[:, 0], rtol=1e-5, atol=1e-3)


def test_mobility_carries_the_outbreak_to_an_unseeded_province():
    params = SEIRParameters(**PLAIN)
    people = integrate(params, POP[:2], [50.0, 0.0], 120, mixing=[[0.98, 0.02], [0.02, 0.98]])[0]
    assert people[R, 1, -1] > 1.0
    alone = integrate(params, POP[:2], [50.0, 0.0], 120, mixing=np.eye(2))[0]
    assert alone[R, 1, -1] == 0.0


@pytest.mark.parametrize("capacity", AID)
def test_more_aid_never_gives_more_deaths(capacity):
    days = 182
    deaths = []
    for level in np.linspace(0.0, 2.0, 6):
        aid = np.zeros((4, days, 3))
        aid[AID.index(capacity)] = level * AID_SCALE[AID.index(capacity)]
        deaths.append(integrate(SEIRParameters(**FULL), POP, [100, 10, 0], days, mixing=MIXING,
                                aid=aid)[0, D, :, -1].sum())  # fmt: skip
    assert np.all(np.diff(deaths) < 0), deaths


def test_no_tests_no_testing_uplift():
    """Without test kits detection stays at its base rate, whatever else arrives."""
    days = 120
    aid = random_aid(np.random.default_rng(5), days // 7 + 1, days)
    aid[AID.index("tests")] = 0.0
    model = Model.build(SEIRParameters(**FULL), POP, MIXING)
    people = model.integrate([100, 10, 0], days, aid=aid)[0]
    for day in (10, 60, 119):
        shares = seir.loads(people[:, :, day][:, None, :], model.rates, aid[:, day][:, None, :])
        np.testing.assert_array_equal(shares.tested, 0.0)
        np.testing.assert_allclose(shares.detection, PLAIN["detection_base_per_day"])


def test_a_batch_matches_separate_runs():
    r0s = np.array([1.5, 2.2, 3.0])
    params = SEIRParameters(**{**FULL, "r0": r0s})
    aid = random_aid(np.random.default_rng(2), 18, 120)
    batch = integrate(params, POP, [100, 10, 0], 120, mixing=MIXING, aid=aid)
    assert batch.shape == (3, len(STATES), 3, 121)
    for b, r0 in enumerate(r0s):
        one = integrate(SEIRParameters(**{**FULL, "r0": r0}), POP, [100, 10, 0], 120,
                        mixing=MIXING, aid=aid)[0]  # fmt: skip
        np.testing.assert_allclose(batch[b], one, rtol=1e-4, atol=1e-2)


def test_the_adjoint_gradient_matches_finite_differences():
    """d(deaths)/d(aid) for every capacity from the adjoint, against central differences."""
    weeks, days = 10, 70
    rng = np.random.default_rng(2)
    weekly = rng.uniform(0, 1, (4, 3, weeks)) * AID_SCALE[:, None, None]
    contact = np.where(np.arange(days) < 20, 1.0, 0.8)[:, None] * np.ones(3)
    model = Model.build(SEIRParameters(**FULL), POP, MIXING)
    seed = [1000.0, 100.0, 0.0]
    _, gradient = deaths_gradient(model, seed, days, contact, weekly_to_daily(weekly, days),
                                  rtol=1e-10, atol=1e-8)  # fmt: skip

    def deaths(aid):
        return model.integrate(seed, days, contact, weekly_to_daily(aid, days), rtol=1e-11,
                               atol=1e-9)[0, D, :, -1].sum()  # fmt: skip

    adjoint, central = [], []
    for c in range(4):
        for p, w in ((0, 0), (1, 3), (2, 9), (0, 5)):
            h = 1e-3 * AID_SCALE[c]
            up, down = weekly.copy(), weekly.copy()
            up[c, p, w] += h
            down[c, p, w] -= h
            central.append((deaths(up) - deaths(down)) / (2 * h))
            adjoint.append(gradient[0, c, p, w])
    adjoint, central = np.array(adjoint), np.array(central)
    assert np.linalg.norm(adjoint - central) / np.linalg.norm(central) < 1e-4
    assert (adjoint <= 1e-12).all()  # more aid never costs lives


@pytest.mark.parametrize("full_aid", [False, True])
def test_the_reproduction_number_matches_the_simulated_growth(full_aid):
    """The next-generation matrix at the simulated growth rate r has spectral radius 1, within
    1 %, and at r = 0 it is the reproduction number."""
    params = SEIRParameters(**{**FULL, "domestic_care_capacity": np.inf})
    contact = 0.8
    days = 120
    aid = np.full((4, days, 3), 1.0e12) if full_aid else None
    people = integrate(
        params,
        POP,
        [10.0, 1.0, 1.0],
        days,
        mixing=MIXING,
        aid=aid,
        contact_factor=np.full((days, 3), contact),
        rtol=1e-10,
        atol=1e-10,
    )[0]
    infected = people[[STATES.index(c) for c in ("E", "P", "A", "I", "T", "QP", "Q", "QA", "H")]]
    total = infected.sum(axis=(0, 1))
    window = slice(60, 90)  # past the start's transients, before susceptibles run down
    growth = np.polyfit(np.arange(days + 1)[window], np.log(total[window]), 1)[0]
    ngm = next_generation_matrix(params, POP, MIXING, contact, full_aid, growth_rate=growth)
    assert np.max(np.abs(np.linalg.eigvals(ngm))) == pytest.approx(1.0, abs=0.01)
    r = reproduction_number(params, POP, MIXING, contact, full_aid)
    assert (r > 1.0) == (growth > 0.0)


def test_dataset_is_labelled():
    people = integrate(SEIRParameters(**PLAIN), POP, [100, 10, 0], 14, mixing=MIXING)[0]
    ds = to_dataset(people, ["a", "b", "c"], "2020-04-06")
    assert ds["people"].dims == ("compartment", "province", "day")
    assert list(ds["compartment"].values) == list(COMPARTMENTS)
    assert str(ds["date"].values[-1])[:10] == "2020-04-20"


VACCINE = dict(FULL, vaccine_efficacy_infection=0.3, vaccine_efficacy_death=0.8)


def test_vaccination_conserves_people_and_cuts_infections_and_deaths_as_its_efficacies_say():
    """No epidemic (no seed): courses given at rate nu for t days leave S exp(-nu e_death t)
    unvaccinated-or-unprotected, the rest in V. With an epidemic, vaccination before it lowers
    both infections and deaths, and V holds everyone else alive."""
    days, nu = 70, 0.004
    vaccination = np.where(np.arange(days) < 50, nu, 0.0)
    params = SEIRParameters(**VACCINE)
    quiet = integrate(params, POP, [0, 0, 0], days, mixing=MIXING, vaccination=vaccination)[0]
    np.testing.assert_allclose(quiet[S, :, -1], POP * np.exp(-nu * 0.8 * 50), rtol=1e-6)
    np.testing.assert_allclose(quiet[COMPARTMENTS.index("V"), :, -1],
                               POP * (1 - np.exp(-nu * 0.8 * 50)), rtol=1e-6)  # fmt: skip
    runs = [integrate(params, POP, [100, 10, 0], 180, mixing=MIXING, vaccination=v)[0]
            for v in (None, np.full(180, nu))]  # fmt: skip
    for people in runs:
        np.testing.assert_allclose(people[: len(COMPARTMENTS)].sum(axis=0),
                                   POP[:, None] * np.ones(181), rtol=1e-9)  # fmt: skip
    assert runs[1][D, :, -1].sum() < 0.8 * runs[0][D, :, -1].sum()
    assert runs[1][S, :, -1].sum() < runs[0][S, :, -1].sum()  # courses move S to V


def test_the_adjoint_gradient_is_exact_with_vaccination_and_aid_carried_past_the_weeks():
    """As above, with vaccine courses given from day 20, aid after week 6 held at a share of
    week 5's that falls over three weeks, and deaths counted to day 84: the last week's
    gradient counts what it carries."""
    weeks, days = 6, 84
    carry = np.array([0.75, 0.5, 0.25])
    rng = np.random.default_rng(3)
    weekly = rng.uniform(0, 1, (4, 3, weeks)) * AID_SCALE[:, None, None]
    contact = np.where(np.arange(days) < 20, 1.0, 0.8)[:, None] * np.ones(3)
    vaccination = np.where(np.arange(days) >= 20, 0.004, 0.0)
    model = Model.build(SEIRParameters(**VACCINE), POP, MIXING)
    seed = [1000.0, 100.0, 0.0]

    def outlook(aid):
        shares = np.concatenate([carry, np.zeros(days // 7 - weeks - carry.size)])
        return weekly_to_daily(np.concatenate([aid, aid[..., -1:] * shares], -1), days)

    _, gradient = deaths_gradient(model, seed, days, contact, outlook(weekly), weeks=weeks,
                                  rtol=1e-10, atol=1e-8, vaccination=vaccination,
                                  carry=np.append(carry, 0.0))  # fmt: skip

    # Every perturbed plan as one draw of one integration: they share its steps.
    entries = [(c, p, w) for c in range(4) for p, w in ((0, 0), (1, 3), (2, 5), (0, 5))]
    plans = []
    for c, p, w in entries:
        for sign in (1.0, -1.0):
            plan = weekly.copy()
            plan[c, p, w] += sign * 1e-3 * AID_SCALE[c]
            plans.append(outlook(plan))
    many = Model.build(SEIRParameters(**VACCINE), POP, MIXING, n_draws=len(plans))
    deaths = many.integrate(seed, days, contact, np.stack(plans), rtol=1e-11, atol=1e-9,
                            vaccination=vaccination)[:, D, :, -1].sum(axis=1)  # fmt: skip
    central = (deaths[0::2] - deaths[1::2]) / (2e-3 * AID_SCALE[[c for c, _, _ in entries]])
    adjoint = np.array([gradient[0, c, p, w] for c, p, w in entries])
    assert np.linalg.norm(adjoint - central) / np.linalg.norm(central) < 1e-4


def test_the_kernel_products_give_the_same_bits_as_scipy_s_own(monkeypatch):
    """The right-hand sides' sparse products go straight to scipy's C kernel (`seir.Product`):
    the trajectory and the adjoint gradient are bitwise those of `matrix @ x`, which is what
    runs when the kernel is missing."""
    weeks, days = 6, 42
    aid = weekly_to_daily(np.random.default_rng(3).uniform(0, 1, (4, 3, weeks))
                          * AID_SCALE[:, None, None], days)  # fmt: skip
    params = SEIRParameters(**{**FULL, "r0": np.array([1.8, 2.6])})

    def run():
        model = Model.build(params, POP, MIXING, 2)
        return deaths_gradient(model, [1000.0, 100.0, 0.0], days, aid=aid)

    people, gradient = run()
    assert seir._csr_matvec is not None  # the shipped scipy has it: the fast path ran
    monkeypatch.setattr(seir, "_csr_matvec", None)
    people_at, gradient_at = run()
    assert np.array_equal(people, people_at)
    assert np.array_equal(gradient, gradient_at)
    assert np.abs(gradient).max() > 0
