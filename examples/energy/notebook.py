# %% [markdown]
# # The energy example from Python
#
# The notebook flow of the Python SDK (`pip install 'sdk/python[all]'`) on the
# energy example: register the catalog, ingest pandas frames, read online
# vectors (plain and windowed aggregates), and build a point-in-time training
# set. Run it against a running feature store (`make run`), cell by cell in
# Jupyter/VS Code (the `# %%` markers), or whole:
#
#     python examples/energy/notebook.py
#
# `FS_PROJECT` names the project (default `energy`); `FS_REGISTRY_ADDR` and
# the other `FS_<SERVICE>_ADDR` variables point at other addresses.

# %%
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

import featurestore

here = Path(__file__).resolve().parent
project = os.environ.get("FS_PROJECT", "energy")
fs = featurestore.Client("127.0.0.1", project=project)

# %% [markdown]
# ## The catalog
# `apply` takes the same spec as `fsctl apply` (a path, or the spec as a dict)
# and returns the plan; applying it again changes nothing.

# %%
spec = yaml.safe_load((here / "energy.yaml").read_text())
spec["project"] = project
print(fs.apply(spec))
print([g.name for g in fs.list("feature_groups")])
print([f"{h.group}.{h.feature.name}" for h in fs.search("kwh")][:5])

# %% [markdown]
# ## Ingest: daily summaries and raw half-hourly readings
# Each ingest returns write tokens; `after=` makes a read wait for those rows.

# %%
daily = pd.read_csv(here / "daily_readings.csv", parse_dates=["day"])
daily_written = fs.ingest("daily_readings", daily)

readings_csv = here / "meter_readings.csv"
subprocess.run(
    [sys.executable, str(here / "generate.py"), "--meter-readings", str(readings_csv), "--days", "6"],
    check=True,
)
readings = pd.read_csv(readings_csv, parse_dates=["reading_time"])
readings_csv.unlink()
readings_written = fs.ingest("meter_readings", readings)
print(f"{daily_written.rows} daily rows, {readings_written.rows} readings")

# %% [markdown]
# ## Online vectors
# Each feature comes with its status (PRESENT, NOT_FOUND, NULL, ...).

# %%
households = ["MAC000001", "MAC000002", "nobody"]
latest = fs.get_feature_vectors("consumption_model", households, after=daily_written, max_wait=2.5)
print(latest.to_pandas(statuses=True)[["household_id", "daily_readings__energy_sum",
                                       "daily_readings__energy_sum.status"]])

# Readings are folded into tiles before they are served: `after` waits for
# them, at most the server's cap (2.5 s) per call, so a slow start is retried.
for attempt in range(12):
    try:
        usage = fs.get_feature_vectors("usage_now", households[:2], after=readings_written, max_wait=2.5)
        break
    except featurestore.errors.DeadlineExceededError:
        if attempt == 11:
            raise
print(usage.to_pandas().T)

# %% [markdown]
# ## A point-in-time training set
# Each entity row gets the features as of its own time (never a later value);
# the label column is kept.

# %%
entities = pd.read_csv(here / "training_rows.csv", parse_dates=["event_timestamp"])
history = fs.get_historical_features("consumption_model", entities, after=daily_written, max_wait=25)
frame = history.to_pandas()
print(frame.head())

dataset = fs.training_sets.create("consumption", "consumption_model", entities)
print(f"training set {dataset.name}@{dataset.version}: {dataset.row_count} rows at {dataset.location}")
print(fs.training_sets.read("consumption", version=dataset.version).to_polars().shape)
