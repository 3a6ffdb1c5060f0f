"""DuckDB side of `mailscope bench`: the same NDJSON file, the same work where DuckDB can do it.
(Not named duckdb.py: Python would import this file instead of the module.)

Invoked as `python3 duckdb_bench.py NDJSON PARQUET RUNS`. Progress goes to standard error; one JSON
object goes to standard output. Exit status 3 means the `duckdb` module is not importable.
DuckDB neither deduplicates observations nor geolocates addresses at ingest; mailscope does.
"""

import json
import statistics
import sys
import time

try:
    import duckdb
except ImportError as error:
    print(json.dumps({"error": "missing-duckdb", "detail": str(error)}))
    sys.exit(3)

COLUMNS = {
    "Organization": "VARCHAR",
    "MessageId": "VARCHAR",
    "Received": "TIMESTAMP",
    "SenderAddress": "VARCHAR",
    "RecipientAddress": "VARCHAR",
    "Subject": "VARCHAR",
    "Status": "VARCHAR",
    "ToIP": "VARCHAR",
    "FromIP": "VARCHAR",
    "Size": "BIGINT",
    "MessageTraceId": "VARCHAR",
    "StartDate": "VARCHAR",
    "EndDate": "VARCHAR",
    "Index": "BIGINT",
}

COUNT_BY_DAY = (
    "SELECT date_trunc('day', Received) d, Status, count(*) FROM {source} GROUP BY ALL"
)
# What mailscope stores: one row per identity (MessageTraceId, RecipientAddress), compared
# case-insensitively, the last observation in file order winning.
DEDUP_COUNT_BY_DAY = """
SELECT epoch_ms(date_trunc('day', Received)) AS d, Status, count(*) AS c
FROM (
    SELECT Received, Status,
           row_number() OVER (
               PARTITION BY lower(trim(MessageTraceId)), lower(trim(RecipientAddress))
               ORDER BY rowid DESC
           ) AS newest
    FROM t
)
WHERE newest = 1
GROUP BY ALL
ORDER BY d, Status
"""


def quote(text):
    return "'" + text.replace("'", "''") + "'"


def log(message):
    print("duckdb: " + message, file=sys.stderr, flush=True)


def timed(con, sql, runs):
    """One first run, then `runs` more; returns (first, [warm...], rows of the last run)."""
    times = []
    rows = None
    for _ in range(runs + 1):
        started = time.perf_counter()
        rows = con.execute(sql).fetchall()
        times.append(time.perf_counter() - started)
    return times[0], times[1:], rows


def main():
    if len(sys.argv) != 4:
        print(json.dumps({"error": "usage", "detail": "duckdb_bench.py NDJSON PARQUET RUNS"}))
        return 2
    ndjson, parquet, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    columns = "{" + ", ".join(f"{quote(k)}: {quote(v)}" for k, v in COLUMNS.items()) + "}"
    read_json = f"read_json({quote(ndjson)}, format = 'newline_delimited', columns = {columns})"
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    out = {"version": duckdb.__version__, "threads": threads}

    log("NDJSON -> Parquet (zstd)")
    started = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM {read_json}) TO {quote(parquet)} (FORMAT parquet, COMPRESSION zstd)")
    out["ingest_seconds"] = time.perf_counter() - started
    out["rows"] = con.execute(f"SELECT count(*) FROM read_parquet({quote(parquet)})").fetchone()[0]

    log("NDJSON -> in-memory table")
    started = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM {read_json}")
    out["load_seconds"] = time.perf_counter() - started

    queries = {}
    log("count by day, status over the table")
    first, warm, _ = timed(con, COUNT_BY_DAY.format(source="t"), runs)
    queries["table"] = {"first": first, "warm": warm}
    log("count by day, status over the Parquet file")
    first, warm, _ = timed(con, COUNT_BY_DAY.format(source=f"read_parquet({quote(parquet)})"), runs)
    queries["parquet"] = {"first": first, "warm": warm}
    log("deduplicated count by day, status over the table")
    first, warm, rows = timed(con, DEDUP_COUNT_BY_DAY, runs)
    queries["dedup_table"] = {"first": first, "warm": warm}
    out["queries"] = queries
    out["dedup_grid"] = [[int(d), str(s), int(c)] for d, s, c in rows]
    out["identities"] = sum(c for _, _, c in out["dedup_grid"])
    out["warm_median"] = {k: statistics.median(v["warm"]) for k, v in queries.items()}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
