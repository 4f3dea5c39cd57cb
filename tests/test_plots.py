"""Charts: they render, say what they show, draw the hunt's numbers exactly, and survive hostile text.

The sample hunt runs once per module; every chart is checked against numbers computed here
independently of ``hunting_lib.report.plots``.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections import Counter

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (only to check that no pyplot figure is left open)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib import cbook  # noqa: E402
from matplotlib.image import imread  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from hunting_lib.hunt import run_hunt  # noqa: E402
from hunting_lib.params import HuntParams  # noqa: E402
from hunting_lib.report import plots  # noqa: E402
from hunting_lib.report.plots import distinct_labels, short_label  # noqa: E402
from hunting_lib.triage.scoring import default_scoring  # noqa: E402
from tests.conftest import SAMPLE_DATA, activity, task_start, typed  # noqa: E402

CHARTS = {
    "rare_tasks_over_time": plots.rare_tasks_over_time,
    "score_breakdown": plots.score_breakdown,
    "runs_vs_devices": plots.runs_vs_devices,
    "actions_per_finding": plots.actions_per_finding,
}

HOSTILE_COMMAND = "$\\alpha$ \u202egpj.exe \x1b[2J " + "A" * 2000
HOSTILE_PATH = "C:\\Users\\m$x\\AppData\\Roaming\\\u202eexe.txt" + "\\deep" * 300 + "\\evil$1$.exe"
HOSTILE_DEVICE = "pc-\x1b[2J-$\\beta$-\u202e" + "d" * 2000
HOSTILE_ACTION = "Action$\\gamma$\x07\u2066"


@pytest.fixture(scope="module")
def result():
    return run_hunt(SAMPLE_DATA, HuntParams(max_devices=1))


@pytest.fixture(scope="module")
def hostile_result():
    """One rare task whose command line, path, device and action are all attacker-shaped."""
    start = task_start("evil$.exe", HOSTILE_COMMAND, HOSTILE_PATH, device=HOSTILE_DEVICE)
    event = activity("evil$.exe", HOSTILE_COMMAND, HOSTILE_PATH, device=HOSTILE_DEVICE,
                     action=HOSTILE_ACTION, RemoteIP="203.0.113.9")
    frames = {"DeviceProcessEvents": typed("DeviceProcessEvents", [start]),
              "DeviceNetworkEvents": typed("DeviceNetworkEvents", [event])}
    return run_hunt(frames, HuntParams(max_devices=1, exclusions=None))


@pytest.fixture(autouse=True)
def no_global_state():
    """No chart may change rcParams or leave a pyplot figure behind."""
    before = dict(matplotlib.rcParams)
    open_before = plt.get_fignums()
    yield
    after = dict(matplotlib.rcParams)
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}
    assert plt.get_fignums() == open_before


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def all_text(fig) -> str:
    return "\n".join(texts(fig))


def save(fig, tmp_path, name: str) -> tuple[int, int]:
    png, svg = tmp_path / f"{name}.png", tmp_path / f"{name}.svg"
    fig.savefig(png, dpi=60)
    fig.savefig(svg)
    return png.stat().st_size, svg.stat().st_size


def task_id_of(label: str) -> int:
    match = re.match(r"(?:\[suppressed\] )?#(\d+) ", label)
    assert match, label
    return int(match.group(1))


# --------------------------------------------------------------------------------------------
# short_label


def visible(label: str) -> str:
    """What matplotlib draws for a non-math label: ``\\$`` shows as ``$``."""
    return label.replace("\\$", "$")


def test_short_label_keeps_a_paths_root_and_end():
    path = r"C:\Users\santeri.mattila\AppData\Roaming\Microsoft\Windows\RuntimeBroker.exe"
    label = short_label(path, 40)
    assert label == "C:\\\u2026\\Microsoft\\Windows\\RuntimeBroker.exe"
    assert short_label(r"C:\Users\a\AppData\Roaming\x.exe", 26) == "C:\\\u2026\\AppData\\Roaming\\x.exe"
    assert short_label(r"\\fs01\patches\deep\folder\tree\7z2408-x64.msi", 30) == "\\\\fs01\\\u2026\\tree\\7z2408-x64.msi"
    assert short_label("short.exe") == "short.exe"


def test_short_label_keeps_a_command_lines_start_and_end():
    command = "powershell.exe -nop -w hidden -enc " + "Q" * 200 + " -final http://203.0.113.9/x"
    label = short_label(command, 50)
    assert len(label) == 50 and "\u2026" in label
    assert label.startswith("powershell.exe -nop") and label.endswith("203.0.113.9/x")


def test_short_label_escapes_mathtext_and_invisible_characters():
    label = short_label("$\\alpha$ \u202eexe.txt \x1b[2J\ttab\u200b", 80)
    assert "\u202e" not in label and "\x1b" not in label and "\u200b" not in label and "\t" not in label
    assert "\\u202e" in label and "\\x1b[2J" in label and "\\t" in label and "\\u200b" in label
    assert not cbook.is_math_text(label)
    assert visible(label).startswith("$\\alpha$")  # drawn as typed, not as a Greek letter
    assert all(unicodedata.category(ch)[0] != "C" for ch in label)


def test_short_label_bounds_long_and_empty_values():
    for text in ["x" * 2000, "$" * 2000, "\x1b" * 2000, "C:\\" + "a\\" * 1000 + "b.exe", "\u202e" * 900]:
        label = short_label(text, 40)
        assert len(visible(label)) <= 40, label
        assert not cbook.is_math_text(label)
        assert "\x1b" not in label and "\u202e" not in label
    assert short_label(None) == short_label("") == short_label(float("nan")) == "(empty)"
    # an escape is never cut in half
    assert re.fullmatch(r"(\\x1b)*\u2026(\\x1b)*", short_label("\x1b" * 100, 41))


def test_distinct_labels_keep_the_folder_that_tells_paths_apart():
    template = r"C:\Users\{}\AppData\Local\Microsoft\OneDrive\OneDriveStandaloneUpdater.exe"
    paths = [template.format(user) for user in ("aino.mattila", "leena.karjalainen", "bo")]
    labels = distinct_labels(paths, 50)
    assert len(set(labels)) == 3
    for user, label in zip(("aino.mattila", "leena.karjalainen", "bo"), labels):
        assert f"\\{user}\\" in label and len(label) <= 50 and label.endswith(".exe")
    # labels that are distinct already are left alone
    assert distinct_labels([r"C:\a\x.exe", r"C:\b\x.exe"]) == [r"C:\a\x.exe", r"C:\b\x.exe"]


# --------------------------------------------------------------------------------------------
# Every chart on the sample hunt


@pytest.mark.parametrize("name", list(CHARTS))
def test_chart_renders_with_title_and_axis_labels(result, tmp_path, name):
    fig = CHARTS[name](result)
    png_size, svg_size = save(fig, tmp_path, name)
    assert png_size > 15_000 and svg_size > 30_000
    pixels = imread(tmp_path / f"{name}.png")
    assert pixels.shape[0] > 150 and pixels.shape[1] > 300
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 20  # not blank
    assert fig.get_suptitle()
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title(loc="left")
    for text in texts(fig):
        assert not cbook.is_math_text(text), text


def test_score_breakdown_bars_add_up_to_the_score(result):
    top_n = 15
    fig = plots.score_breakdown(result, top_n=top_n)
    ax = fig.axes[0]
    shown = result.rare_tasks.head(top_n).reset_index(drop=True)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert [task_id_of(label) for label in labels] == shown["TaskId"].tolist()  # rank order

    weights = default_scoring().weights
    totals = np.zeros(len(shown))
    for container in ax.containers:  # one container per signal
        signal = container.patches[0].get_gid()
        rows = sorted(round(p.get_y() + p.get_height() / 2) for p in container.patches)
        assert rows == shown.index[shown[signal]].tolist()  # a segment exactly where it fired
        for patch in container.patches:
            assert patch.get_width() == pytest.approx(weights[signal])
            totals[round(patch.get_y() + patch.get_height() / 2)] += patch.get_width()
    np.testing.assert_allclose(totals, shown["Score"].to_numpy(dtype=float))
    # the rare_tasks frame alone draws the same bars
    alone = plots.score_breakdown(result.rare_tasks, top_n=top_n).axes[0]
    assert [p.get_width() for c in alone.containers for p in c.patches] == [
        p.get_width() for c in ax.containers for p in c.patches]
    # segments of one bar touch: each starts where the previous one ended
    for row in range(len(shown)):
        spans = sorted((p.get_x(), p.get_x() + p.get_width()) for c in ax.containers for p in c.patches
                       if round(p.get_y() + p.get_height() / 2) == row)
        assert all(a[1] == pytest.approx(b[0]) for a, b in zip(spans, spans[1:]))


def test_score_breakdown_reads_in_greyscale(result):
    ax = plots.score_breakdown(result).axes[0]
    hatches = [c.patches[0].get_hatch() or "" for c in ax.containers]
    assert len(hatches) >= 10 and len(set(hatches)) == len(hatches)  # every signal its own hatch
    shades = [np.dot(c.patches[0].get_facecolor()[:3], [0.2126, 0.7152, 0.0722]) for c in ax.containers]
    assert all(abs(a - b) > 0.15 for a, b in zip(shades, shades[1:]))  # neighbours differ in lightness


def expected_action_counts(result, top_n: int) -> pd.DataFrame:
    """Events per (finding, ActionType), by the brief's rule, one finding at a time."""
    rows = result.activity_rows
    name = rows["InitiatingProcessFileName"].str.lower()
    command = rows["InitiatingProcessCommandLine"].str.lower()
    folder = rows["InitiatingProcessFolderPath"].str.lower()
    counts = {}
    for task in result.findings.head(top_n).itertuples():
        mine = (name == task.FileName.lower()) & (command == task.ProcessCommandLine.lower()) & (
            folder == task.FolderPath.lower())
        counts[task.TaskId] = rows.loc[mine, "ActionType"].value_counts()
    return pd.DataFrame(counts).T.fillna(0).astype(int)


def test_heatmap_cells_equal_independent_counts(result):
    top_n = 15
    fig = plots.actions_per_finding(result, top_n=top_n)
    ax = fig.axes[0]
    cells = np.ma.filled(ax.images[0].get_array(), 0).astype(int)
    row_ids = [task_id_of(t.get_text()) for t in ax.get_yticklabels()]
    columns = [t.get_text() for t in ax.get_xticklabels()]
    assert row_ids == result.findings.head(top_n)["TaskId"].tolist()
    expected = expected_action_counts(result, top_n).reindex(index=row_ids, columns=columns, fill_value=0)
    assert expected.to_numpy().sum() == expected_action_counts(result, top_n).to_numpy().sum()  # no column lost
    np.testing.assert_array_equal(cells, expected.to_numpy())
    assert cells.sum() > 100
    # every non-empty cell is labelled with its count
    labels = Counter(t.get_text() for t in ax.texts)
    assert labels == Counter(str(v) for v in cells[cells > 0])


def test_heatmap_uses_task_ids_when_activity_rows_carry_them(result):
    rows = result.activity_rows.iloc[:30].assign(TaskId=result.findings["TaskId"].iloc[0])
    fig = plots.actions_per_finding(dataclasses.replace(result, activity_rows=rows), top_n=5)
    cells = np.ma.filled(fig.axes[0].images[0].get_array(), 0)
    assert cells[0].sum() == 30 and cells[1:].sum() == 0


def test_runs_vs_devices_highlights_exactly_the_rare_groups(result):
    fig = plots.runs_vs_devices(result)
    ax = fig.axes[0]
    points = {c.get_gid(): Counter(map(tuple, np.asarray(c.get_offsets()).astype(int).tolist()))
              for c in ax.collections if c.get_gid()}
    rare, suppressed = result.rare_tasks, result.rare_tasks["SuppressedBy"].notna()
    as_points = lambda frame: Counter(zip(frame["Count"].astype(int), frame["DeviceCount"].astype(int)))  # noqa: E731
    assert points["rare-finding"] == as_points(rare[~suppressed])
    assert points["rare-suppressed"] == as_points(rare[suppressed])

    groups = result.task_starts.groupby(["FileName", "ProcessCommandLine", "FolderPath"]).agg(
        Count=("Timestamp", "size"), DeviceCount=("DeviceName", "nunique"))
    assert sum(points["not-rare"].values()) == len(groups) - len(rare)
    params = result.params
    for runs, devices in points["not-rare"]:  # why: outside both rarity tests
        assert runs >= params.threshold and devices > params.max_devices
    for runs, devices in points["rare-finding"] + points["rare-suppressed"]:
        assert runs < params.threshold or devices <= params.max_devices
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    lines = {tuple(line.get_xdata()) + tuple(line.get_ydata()) for line in ax.lines}
    assert any(xs[:2] == (params.threshold - 0.5,) * 2 for xs in lines)  # vertical threshold line
    assert any(xs[2:] == (params.max_devices + 0.5,) * 2 for xs in lines)  # horizontal max_devices


def test_timeline_draws_every_start_of_every_rare_group(result):
    fig = plots.rare_tasks_over_time(result, top_n=10)
    ax = fig.axes[0]
    drawn = {c.get_gid(): len(c.get_offsets()) for c in ax.collections}
    rare = result.rare_tasks
    suppressed = rare["SuppressedBy"].notna()
    assert sum(drawn.values()) == rare["Count"].sum()
    assert drawn["suppressed"] == rare.loc[suppressed, "Count"].sum()
    featured = result.findings.head(10)
    assert {f"task-{t}": n for t, n in zip(featured["TaskId"], featured["Count"])}.items() <= drawn.items()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert [task_id_of(t) for t in legend[:10]] == featured["TaskId"].tolist()
    devices = {d for ds in rare["Devices"] for d in ds}
    assert len(ax.get_yticklabels()) == len(devices)

    hidden = plots.rare_tasks_over_time(result, show_suppressed=False)
    assert "suppressed" not in {c.get_gid() for c in hidden.axes[0].collections}
    assert f"{int(suppressed.sum())} suppressed groups left out" in hidden.axes[0].get_title(loc="left")


# --------------------------------------------------------------------------------------------
# Hostile text and empty hunts


@pytest.mark.parametrize("name", list(CHARTS))
def test_hostile_text_is_escaped_and_shortened(hostile_result, tmp_path, name):
    assert len(hostile_result.rare_tasks) == 1 and len(hostile_result.activity_rows) == 1
    fig = CHARTS[name](hostile_result)
    save(fig, tmp_path, name)
    for text in texts(fig):
        assert not cbook.is_math_text(text), text
        assert not any(unicodedata.category(ch) in ("Cc", "Cf") and ch != "\n" for ch in text), text
        assert all(len(visible(line)) <= 130 for line in text.split("\n")), text
    shown = all_text(fig)
    if name != "runs_vs_devices":  # that chart names only the program
        assert "\\u202e" in shown and "\u2026" in shown
    if name == "rare_tasks_over_time":
        assert "pc-\\x1b[2J-\\$" in shown
    if name == "actions_per_finding":
        assert "Action\\$\\gamma\\$\\x07\\u2066" in shown
        assert np.ma.filled(fig.axes[0].images[0].get_array(), 0).sum() == 1


def empty_result(result):
    return dataclasses.replace(result, rare_tasks=result.rare_tasks.iloc[0:0],
                               task_starts=result.task_starts.iloc[0:0],
                               activity_rows=result.activity_rows.iloc[0:0])


@pytest.mark.parametrize("name", list(CHARTS))
def test_empty_hunt_says_nothing_to_show(result, tmp_path, name):
    fig = CHARTS[name](empty_result(result))
    png_size, _ = save(fig, tmp_path, name)
    assert png_size > 2_000
    assert fig.get_suptitle() and "nothing to" in all_text(fig).lower()


def test_findings_without_activity_say_nothing_to_show(result, tmp_path):
    quiet = dataclasses.replace(result, activity_rows=result.activity_rows.iloc[0:0])
    fig = plots.actions_per_finding(quiet)
    save(fig, tmp_path, "quiet")
    assert "no activity" in all_text(fig).lower()
    only_suppressed = dataclasses.replace(result, rare_tasks=result.suppressed)
    assert "nothing to show" in all_text(plots.actions_per_finding(only_suppressed))
    # the other charts still draw the suppressed groups
    assert plots.rare_tasks_over_time(only_suppressed).axes[0].collections


def test_all_figures_in_report_order(hostile_result):
    figures = plots.all_figures(hostile_result)
    assert list(figures) == ["score_breakdown", "rare_tasks_over_time", "runs_vs_devices", "actions_per_finding"]
    assert all(fig.get_suptitle() for fig in figures.values())


def test_indicator_prevalence_bars_are_the_fleet_counts():
    import warnings

    from hunting_lib.hunt import run_hunt
    from hunting_lib.params import HuntParams
    from hunting_lib.pivots import pivot
    from hunting_lib.report.plots import indicator_prevalence
    from tests.conftest import SAMPLE_DATA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_hunt(SAMPLE_DATA, HuntParams(max_devices=1))
    indicators = pivot.network_indicators(result)
    fig = indicator_prevalence(indicators, top_n=50)
    bars = [p for p in fig.axes[0].patches]
    shown = indicators.sort_values(["FleetDevices", "Indicator"], kind="stable")
    assert [b.get_width() for b in bars] == shown["FleetDevices"].tolist()
    assert [bool(b.get_hatch()) for b in bars] == shown["IPKind"].eq("public").tolist()
    assert fig._suptitle.get_text() and fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel()
    empty = indicator_prevalence(indicators.iloc[0:0])
    assert "nothing to show" in " ".join(t.get_text() for t in empty.axes[0].texts)
