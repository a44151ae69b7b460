"""Writes the example data (deterministic): daily_readings.csv, one row per
household and day with the aggregates of 48 half-hourly readings, and
training_rows.csv, the entity rows of a training set (household, the time a
prediction would have been made, the next day's consumption as label).

    python3 examples/energy/generate.py
"""

import csv
import datetime as dt
import os
import random
import statistics

HOUSEHOLDS = 40
DAYS = 60
START = dt.date(2026, 9, 1)
HERE = os.path.dirname(os.path.abspath(__file__))


def household(i):
    return f"MAC{i:06d}"


def main():
    rng = random.Random(42)
    totals = {}
    with open(os.path.join(HERE, "daily_readings.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["household_id", "day", "energy_count", "energy_min", "energy_max",
                      "energy_mean", "energy_median", "energy_sum", "energy_std"])
        for h in range(HOUSEHOLDS):
            base = rng.uniform(0.08, 0.45)
            for d in range(DAYS):
                day = START + dt.timedelta(days=d)
                weekend = 1.25 if day.weekday() >= 5 else 1.0
                # A day missing a few measures now and then, as real meters do.
                count = 48 if rng.random() > 0.05 else rng.randint(40, 47)
                readings = [round(max(0.0, base * weekend * (1.0 + 0.8 * (12 <= s % 48 <= 40))
                                      + rng.gauss(0, base * 0.3)), 3)
                            for s in range(count)]
                total = round(sum(readings), 3)
                totals[(h, d)] = total
                out.writerow([household(h), f"{day.isoformat()}T23:59:59Z", count,
                              min(readings), max(readings),
                              round(statistics.mean(readings), 4),
                              round(statistics.median(readings), 4), total,
                              round(statistics.stdev(readings), 4)])
    with open(os.path.join(HERE, "training_rows.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["household_id", "event_timestamp", "next_day_kwh"])
        for h in range(HOUSEHOLDS):
            for d in range(7, DAYS - 1, 7):
                # Predicting just after midnight: day d is the latest full day known.
                at = START + dt.timedelta(days=d + 1)
                out.writerow([household(h), f"{at.isoformat()}T00:30:00Z", totals[(h, d + 1)]])


if __name__ == "__main__":
    main()
