"""`aidopt report`: the plan on one self-contained HTML page, and as PDF where a browser can
print it.

The page needs no network to open: figures are SVG inside data URIs, the style sheet is inline,
and there is no script. PDF is printed by headless Chromium (or Chrome) when one is installed.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from optimiser import figures, views

log = logging.getLogger(__name__)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
PRINT_TIMEOUT_S = 180

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       max-width: 1080px; margin: 2em auto; padding: 0 1em; color: #1b1b1b; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } .sub { color: #555; margin-top: 0; }
.headline { display: flex; gap: 1em; flex-wrap: wrap; margin: 1em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.7em 1em; flex: 1 1 10em; }
.card .big { font-size: 1.7em; font-weight: 600; } .card .range { color: #555; font-size: 0.9em; }
.ok { color: #1e7b34; } .warn { color: #b03a2e; font-weight: 600; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.25em 0.7em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; } figure { margin: 1em 0; }
figcaption { color: #555; font-size: 0.9em; } footer { color: #666; font-size: 0.85em; }
.wide { overflow-x: auto; } .answer { border-color: #1f6fb4; } h3 { font-size: 1.05em; }
@media print { body { margin: 0; max-width: none; } figure, tr { break-inside: avoid; }
               h2 { break-after: avoid; } }
"""


def image(svg: str, alt: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'


def table(frame: pd.DataFrame, id: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, int | float) and not isinstance(value, bool):
                cells.append(f'<td class="n">{views.fmt(float(value))}</td>')
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    at = f' id="{html.escape(id)}"' if id else ""
    return f"<table{at}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def headline(result: views.Result) -> str:
    s = result.summary
    cards = []
    for key, label in (("deaths", "Deaths"), ("infections", "Infections")):
        for which, words in (("no_aid", "without aid"), ("with_plan", "with the plan")):
            value = s.get(f"{key}_{which}")
            if value is None:
                continue
            cards.append(card("card", f"{label} {words}", value, s,
                              views.interval(s, f"{key}_{which}")))  # fmt: skip
    if not cards:
        return f"<p>Deaths: {html.escape(str(s.get('epidemic', 'not computed')))}</p>"
    return '<div class="headline">' + "".join(cards) + "</div>"


def card(kind: str, title: str, value: float, s: dict, span) -> str:
    """One headline card: its title, the figure and, where draws give one, its range."""
    extra = ""
    if span:
        extra = (f'<div class="range">{html.escape(views.interval_label(s))}: '
                 f"{figures.count(span[0])} to {figures.count(span[1])}</div>")  # fmt: skip
    return (f'<div class="{kind}"><div>{html.escape(title)}</div>'
            f'<div class="big">{figures.count(value)}</div>{extra}</div>')  # fmt: skip


def answer(result: views.Result) -> str:
    """The first cards: deaths averted in each counted window (with its range where draws
    exist) and spending."""
    s = result.summary
    cards = []
    for window, averted in views.deaths_averted(s).items():
        date = views.window_date(s, window)
        span = views.interval(s, "deaths_averted") if window == "outlook" else None
        cards.append(card("card answer", f"Deaths averted by {date or window} ({window})",
                          averted, s, span))  # fmt: skip
    spent = (s.get("spending_usd") or {}).get("total")
    if spent is not None:
        parts = ", ".join(f"{k} {v / 1e6:,.1f} M" for k, v in s["spending_usd"].items()
                          if k != "total")  # fmt: skip
        cards.append(
            f'<div class="card answer"><div>Spending</div><div class="big">{spent / 1e6:,.1f} M '
            f'USD</div><div class="range">{html.escape(parts)}</div></div>'
        )
    return '<div class="headline">' + "".join(cards) + "</div>" if cards else ""


def what_goes_where(ds) -> str:
    matrix = views.arrivals_matrix(ds)
    if matrix.empty or len(matrix) <= 1:
        return section("What arrives where", "<p>Nothing is delivered.</p>")
    return section(
        "What arrives where",
        f"<p>{html.escape(CAPTIONS['arrives'])}</p>",
        f'<div class="wide">{table(matrix, "arrives")}</div>',
        "<h3>Tonnes delivered, by month</h3>",
        f'<div class="wide">{table(views.tonnes_by_month(ds), "by-month")}</div>',
    )


def limits_section(s: dict, ds) -> str:
    found = views.limits_table(s, ds)
    if found.empty:
        note = (s.get("limits") or {}).get("note", "this result does not say (an older aidopt)")
        return section("What limits the plan", f"<p>Not computed: {html.escape(note)}.</p>")
    top = views.most_valuable_limits(s)
    return section(
        "What limits the plan",
        f"<p>{html.escape(CAPTIONS['limits'])}</p>",
        table(found, "limits"),
        "<h3>The three limits whose relaxation would matter most</h3>",
        table(top, "most-valuable") if not top.empty else "<p>No limit binds.</p>",
    )


def rules_section(s: dict) -> str:
    rules = views.rules_of_thumb(s)
    if rules is None:
        return ""
    block = s["rules_of_thumb"]
    words = (
        f"Deaths counted to the window '{block.get('window', '?')}'. The plan: "
        f"{figures.count(float(block.get('plan_deaths', float('nan'))))} deaths; best rule: "
        f"{block.get('best_rule', '?')}; the plan averts "
        f"{figures.count(float(block.get('plan_averts_more_than_best_rule', 0.0)))} more."
    )
    return section("The plan beside rules of thumb", f"<p>{html.escape(words)}</p>",
                   table(rules, "rules"))  # fmt: skip


def fill_rates(summary: dict) -> pd.DataFrame:
    reach = summary.get("fill_rate_reachable", {})
    rows = [
        {
            "item": item,
            "share of the horizon's need delivered": _percent(rate),
            "of the need it could reach in time": _percent(reach.get(item)),
        }
        for item, rate in summary.get("fill_rate", {}).items()
    ]
    return pd.DataFrame(rows)


def _percent(value: float | None) -> str:
    return views.percent(value)


def entry_routes(ds) -> pd.DataFrame:
    status = views.route_status(ds)
    words = {"closed": "closed: no flow allowed", "some goods": "open to some goods only",
             "open": "open"}  # fmt: skip
    tonnes = views.entry_tonnes(ds)
    return pd.DataFrame(
        [
            {"route": arc, "from": str(ds["arc_from"].sel(arc=arc).values),
             "mode": str(ds["mode"].sel(arc=arc).values), "status": words[status[arc]],
             "tonnes over the horizon [t]": float(t)}
            for arc, t in tonnes.items()
        ]
    )  # fmt: skip


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def figure(svg: str, alt: str, caption: str) -> str:
    return f"<figure>{image(svg, alt)}<figcaption>{html.escape(caption)}</figcaption></figure>"


CAPTIONS = {
    "curves": "New infections per day without aid and with the plan (a log scale for outbreaks "
    "longer than half a year); each title gives the province's deaths by the date it names, "
    "without aid -> with the plan.",
    "coverage": "Share of each aid capacity's load served in each province and week: tests "
    "against suspected cases, IPC supplies against the people isolated and in hospital, care "
    "against hospital patients; grey where a week puts no load on it.",
    "arrives": "Units of each item delivered to each province over the horizon (used against "
    "its need: the totals of deliveries.csv's `delivered`), in the item's own unit, and the "
    "tonnes of all goods. The workbook's first sheet has the same table by month.",
    "limits": "For each item, what holds its fill rate down, from the LP's duals and reduced "
    "costs at the final plan: the binding rule or resource whose doubling would avert the "
    "most deaths to first order (an upper bound). Items that go into the same capacity are "
    "complements, so one scarce item holds the others. Each row's --set gives its exact value "
    "with aidopt run.",
    "whole": "The plan rounded by aidopt run --whole-units (a MIP, the continuous plan's "
    "capacities fixed): whole lots on every route-week it ships, whole vehicles, whole teams; "
    "its deaths, met by the epidemic again, beside the continuous plan's.",
    "teams": "ROK medical teams sent to each province over the horizon, the most present in "
    "one week, and team-weeks present against team-weeks needed.",
    "weekly": "Tonnes leaving on each route into the DPRK, by week of departure.",
    "values": "Deaths averted (in the LP's linearised terms) by one more tonne a week on a "
    "route, or one more tonne of an exemption's quota; zero where the limit does not bind.",
}


def build_html(result: views.Result) -> str:
    s, ds = result.summary, result.ds
    prov = s.get("provenance", {})
    converged = s.get("coupling", {}).get("converged", False)
    state = (
        f'<p class="{"ok" if converged else "warn"}">{html.escape(views.convergence_text(s))}'
        f" &middot; plan status: {html.escape(str(s.get('status')))}</p>"
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in views.key_assumptions(ds, s))
    parts = [
        f"<h1>aidopt plan: {html.escape(result.name)}</h1>",
        f'<p class="sub">result created {html.escape(str(prov.get("created_utc", "?")))}; '
        f"report written {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}</p>",
        answer(result),
        headline(result),
        state,
        what_goes_where(ds),
        limits_section(s, ds),
        rules_section(s),
    ]
    weekly = figures.entry_routes_by_week(ds)
    if weekly is not None:
        parts.append(
            section(
                "Entry routes used, week by week",
                figure(figures.to_svg(weekly), "entry routes by week", CAPTIONS["weekly"]),
            )
        )
    parts.append(section("Medical teams by province", f"<p>{html.escape(CAPTIONS['teams'])}</p>",
                         table(views.teams_by_province(ds), "teams")))  # fmt: skip
    from optimiser.whole_units import summary_rows

    whole = summary_rows(s)
    if whole:
        rows = pd.DataFrame(whole, columns=["whole-units plan", "value", "unit"])
        parts.append(section("In whole lots, vehicles and teams",
                             f"<p>{html.escape(CAPTIONS['whole'])}</p>", table(rows, "whole")))
    parts.append(section("Key assumptions", f"<ul>{notes}</ul>"))
    log.info("drawing the figures")
    if views.has_epidemic(ds):
        curves = figures.to_svg(figures.epidemic_curves(ds))
        parts.append(
            section(
                "The epidemic, province by province",
                figure(curves, "epidemic curves per province", CAPTIONS["curves"]),
            )
        )
    heatmap = figures.coverage_heatmap(ds)
    parts.append(
        section(
            "Fill rates",
            table(fill_rates(s)),
            *([figure(figures.to_svg(heatmap), "coverage heat map", CAPTIONS["coverage"])]
              if heatmap is not None else []),
        )
    )  # fmt: skip
    if "latitude" in ds.coords and "longitude" in ds.coords:
        fig, note = figures.flow_map(ds)
        drawn = figure(figures.to_svg(fig), "flow map", note)
    else:
        drawn = "<p>No map: this result has no node coordinates (an older aidopt wrote it).</p>"
    parts.append(section("Where the goods go", drawn, table(entry_routes(ds))))
    values = views.route_values(ds)
    parts.append(
        section(
            "What more capacity would be worth",
            f"<p>{html.escape(CAPTIONS['values'])}</p>",
            table(values) if not values.empty else "<p>No route capacity binds.</p>",
            table(views.exemption_values(ds)),
        )
    )
    settings = pd.DataFrame(
        [(k, str(v), d) for k, v, d in views.settings(ds)], columns=["setting", "value", "meaning"]
    )
    if not settings.empty:
        parts.append(section("Scenario settings", table(settings)))
    provenance = "; ".join(f"{k}: {v}" for k, v in prov.items() if v)
    parts.append(f"<footer>{html.escape(provenance)}</footer>")
    title = f"aidopt plan: {html.escape(result.name)}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def write_html(result: views.Result, path: Path) -> Path:
    text = build_html(result)

    def write(staged: Path) -> None:
        staged.write_text(text, encoding="utf-8")

    return views.write_file(path, write)


def find_browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(page: Path, path: Path, browser: str) -> Path:
    """Print an HTML page to PDF with headless Chromium; raises RuntimeError if it fails."""
    log.info("printing %s", path.name)

    def write(staged: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="aidopt-browser-") as profile:
            command = [
                browser, "--headless", "--disable-gpu", "--no-pdf-header-footer",
                f"--user-data-dir={profile}", f"--print-to-pdf={staged}",
                page.resolve().as_uri(),
            ]  # fmt: skip
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                command.insert(1, "--no-sandbox")  # Chromium refuses to run as root otherwise
            try:
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=PRINT_TIMEOUT_S, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise RuntimeError(f"{browser} could not print the page: {exc}") from exc
            if not staged.is_file() or staged.stat().st_size == 0:
                tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(f"{browser} wrote no PDF (exit {done.returncode}: {tail[0]})")

    return views.write_file(path, write)
