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
# # WSGI vs ASGI: sync and async worker models under IO-bound and CPU-bound load
#
# Questions, answered from one run (the newest under `results/`, or `PWB_RUN`):
#
# 1. On an **IO-bound** mix (requests that wait on `/io/sleep` or `/io/upstream`), how
#    far ahead are async worker models (asyncio event loops, gevent) of sync ones, whose
#    concurrency is capped at workers × threads?
# 2. On a **CPU-bound** mix (`/cpu`), does that lead vanish?
# 3. How does throughput scale with the **worker count** for each worker model?
#
# A section that needs something the run lacks (a mix profile, a worker model, several
# worker counts) says so and is skipped. All tables and charts come from `harness.report`.

# %%
import sys
from pathlib import Path

ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "harness" / "report").is_dir())
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from IPython.display import display  # noqa: E402

from harness.report import open_run  # noqa: E402
from harness.report.notebook import pick_run, show  # noqa: E402
from harness.report.tables import kind_pivot, mix_profile, mix_weights, scaling  # noqa: E402

pd.set_option("display.max_columns", 40)
pd.set_option("display.width", 200)

view = open_run(pick_run(ROOT / "results"))
meta = view.run.metadata
profiles = {mix: mix_profile(meta, mix) for mix in view.mixes}
kinds = sorted(set(view.run.cells["worker_kind"]))

# %% [markdown]
# ## The mixes of this run and what bounds them

# %%
display(pd.DataFrame(
    [{"mix": m, "profile": p, "task weights": mix_weights(meta, m)} for m, p in profiles.items()]
))  # fmt: skip
print(f"worker models in this run: {', '.join(kinds)}")

# %% [markdown]
# ## 1–2. Sync vs async, per mix
#
# The best stack of each worker model at its peak, and the async/sync throughput ratio.

# %%
if not {"sync", "async"} <= set(kinds):
    print(
        f"Skipped: this run has only {' and '.join(kinds) or 'no'} worker models; the "
        "comparison needs both sync and async stacks."
    )
else:
    display(kind_pivot(view.table, profiles))

# %%
for profile in ("io-bound", "cpu-bound"):
    mixes = [m for m, p in profiles.items() if p == profile]
    if not mixes:
        print(
            f"Skipped {profile}: this run has no {profile} mix (its mixes: "
            f"{', '.join(f'{m} ({p})' for m, p in profiles.items())})."
        )
        continue
    for mix in mixes:
        print(f"{profile} mix {mix}")
        show(view.figure("throughput-users", mix))
        show(view.figure("latency-users", mix))
        show(view.figure("latency-percentiles", mix))

# %% [markdown]
# ## 3. Worker-count scaling
#
# Speed-up of each stack family over its smallest worker count, then the chart: sync
# worker models on the left, async on the right.

# %%
server_cpus = meta.get("cpu_sets", {}).get("server", [])
print(
    f"The server was pinned to CPU(s) {server_cpus}: past {len(server_cpus) or '?'} worker "
    "process(es), more workers can still hide waiting but cannot add CPU time."
)
scaled = scaling(view.table)
if scaled.empty:
    print(
        "Skipped: no stack family ran at more than one worker count in this run; "
        "scaling needs a scenario with several `workers` values."
    )
else:
    display(scaled)
    for mix in sorted(set(scaled["mix"])):
        show(view.figure("throughput-workers", mix))

# %% [markdown]
# ## Cost: CPU and memory per stack

# %%
for mix in view.mixes:
    show(view.figure("efficiency", mix))
