"""Writes the example data (deterministic): daily_readings.csv, one row per
household and day with the aggregates of 48 half-hourly readings, and
training_rows.csv, the entity rows of a training set (household, the time a
prediction would have been made, the next day's consumption as label).

    python3 examples/energy/generate.py

With --meter-readings OUT, writes instead the raw half-hourly readings of
the last --days days up to now (one row per household and half hour: the
events the meter_readings group aggregates over 1 d, 7 d, 30 d and its
lifetime), so that windows read now hold them:

    python3 examples/energy/generate.py --meter-readings readings.csv --days 6
"""

import argparse
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


def meter_readings(out_path, days, end):
    """Half-hourly readings of every household for `days` days before `end`
    (the last one on the half hour at or before it)."""
    rng = random.Random(7)
    last = end.replace(minute=0 if end.minute < 30 else 30, second=0, microsecond=0)
    slots = days * 48
    with open(out_path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["household_id", "reading_time", "kwh"])
        for h in range(HOUSEHOLDS):
            base = rng.uniform(0.08, 0.45)
            for s in range(slots):
                at = last - dt.timedelta(minutes=30 * (slots - 1 - s))
                daytime = 1.0 + 0.8 * (6 <= at.hour <= 20)
                kwh = round(max(0.0, base * daytime + rng.gauss(0, base * 0.3)), 3)
                out.writerow([household(h), at.strftime("%Y-%m-%dT%H:%M:%SZ"), kwh])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meter-readings", metavar="OUT")
    parser.add_argument("--days", type=int, default=6)
    args = parser.parse_args()
    if args.meter_readings:
        now = dt.datetime.now(dt.timezone.utc)
        meter_readings(args.meter_readings, args.days, now)
    else:
        main()
