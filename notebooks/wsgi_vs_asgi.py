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
# 4. The **claims** people make about WSGI and ASGI, each an experiment with a verdict
#    (`make claims`: the newest claims run under `results/`, or `PWB_CLAIMS`, else the
#    committed `results/reference-claims/`).
#
# A section that needs something the run lacks (a mix profile, a worker model, several
# worker counts) says so and is skipped. All tables and charts come from `harness.report`
# and `harness.claims`.

# %%
import sys
from pathlib import Path

ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "harness" / "report").is_dir())
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from IPython.display import display  # noqa: E402

from harness.report.notebook import open_view, show  # noqa: E402
from harness.report.tables import kind_pivot, mix_profile, mix_weights, scaling  # noqa: E402

view = open_view(ROOT)
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

# %% [markdown]
# ## 4. The claims, settled by experiment
#
# Each claim of `scenarios/claims.toml` ran as its own small run; its checks compare a
# figure (or the ratio of two) with the threshold the claim implies. **supported** or
# **refuted** only when the 95% interval lies wholly on one side and no cell involved was
# generator-bound, failed or erroring; otherwise **inconclusive**, with the reason.

# %%
from harness.claims.report import claim_figure, load, pick_claims, verdict_table  # noqa: E402

claims_dir = pick_claims(ROOT / "results")
if claims_dir is None:
    print("Skipped: no claims run under results/ and no reference: run `make claims`.")
    claims = {}
else:
    claims = load(claims_dir)
    quick = " (--quick)" if claims.get("quick") else ""
    when = f"{claims.get('started_at')} to {claims.get('ended_at')}"
    print(f"claims {claims_dir.name}{quick}: {when}")
    display(verdict_table(claims))

# %% [markdown]
# One chart per claim: each check's cells (median over the repeats, bars: 95% interval),
# coloured by the check's verdict; a dashed line marks a threshold on a single figure.

# %%
for claim in claims.get("claims", []):
    print(f"{claim['id']}: {claim['verdict'].upper()}: {claim['statement']}")
    if claim.get("notes"):
        print(f"  ({claim['notes']})")
    figure = claim_figure(claim)
    if figure is None:
        print(f"  {claim['reason']}")
    else:
        show(figure)
