# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Results of one run
#
# Shows the newest run under `results/`, or the run named by the environment variable
# `PWB_RUN` (a run directory or a run id); when no other run exists, the reference run in
# `results/reference/`. Every table and chart comes from `harness.report`, the same code
# that writes `report.html`, so what you see here matches the report.

# %%
import sys
from pathlib import Path

ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "harness" / "report").is_dir())
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from IPython.display import display  # noqa: E402

from harness.report.notebook import open_view, show  # noqa: E402
from harness.report.raw import timeline  # noqa: E402
from harness.report.tables import FLAG_MEANINGS, levels, mix_profile  # noqa: E402
from harness.report.view import MIX_CHARTS  # noqa: E402

# %% [markdown]
# ## The run

# %%
view = open_view(ROOT)
meta = view.run.metadata
machine = meta.get("machine", {})
print(f"scenario:  {meta.get('scenario', {}).get('name', '?')}")
print(f"machine:   {machine.get('cpu_model', '?')}, {machine.get('cores', '?')} cores")
print(f"python:    {meta.get('python', {}).get('version', '?')}")
print(f"git:       {meta.get('git', {}).get('commit', '?')}")
print(f"cpu sets:  {meta.get('cpu_sets', {})}")
print(f"cells:     {len(view.run.cells)} finished of {meta.get('cells_planned', '?')} planned")
print(f"mixes:     {', '.join(f'{m} ({mix_profile(meta, m)})' for m in view.mixes)}")

# %% [markdown]
# ## Headline: each stack at its peak, ranked per mix
#
# Flags (a ranked row is never shown without them):

# %%
for code, meaning in FLAG_MEANINGS.items():
    print(f"  {code:16} {meaning}")
headline_columns = [
    "mix", "rank", "stack", "flags", "users", "rps", "p50_ms", "p99_ms", "error_rate",
    "server_cpu_pct", "rps_per_cpu_s", "server_rss_mb",
]  # fmt: skip
for mix in view.mixes:
    display(view.table[view.table["mix"] == mix][headline_columns])

# %% [markdown]
# ## Every concurrency level (repeats pooled by their median)

# %%
display(levels(view.run.cells)[["mix", "stack", "users", "status", "repeats", "rps", "rps_min",
                                "rps_max", "p50_ms", "p99_ms", "flags"]])  # fmt: skip

# %% [markdown]
# ## Charts, per mix

# %%
for mix in view.mixes:
    for kind in MIX_CHARTS:
        show(view.figure(kind, mix))

# %% [markdown]
# ## Explore
#
# Pick any cell: its per-second timeline and table. Change `cell` to another id from
# `view.run.cells["cell"]`.

# %%
finished = view.run.cells[~view.run.cells["failed"]]
if finished.empty:
    print("This run has no finished cell: nothing to draw a timeline of.")
else:
    cell = finished.sort_values("rps").iloc[0]["cell"]  # the slowest finished cell
    print(f"cell {cell}")
    show(view.timeline_figure(cell))
    display(timeline(view.run.raw_dir(cell)).per_second)

# %% [markdown]
# Latency percentiles at another concurrency level: pass `users=`.

# %%
for mix in view.mixes:
    lowest = int(view.mix_cells(mix)["users"].min())
    show(view.percentile_figure(mix, users=lowest))
