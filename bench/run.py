#!/usr/bin/env python3
"""subsweep benchmark: times each scenario of issue 8 against a PostgreSQL COPY baseline
measured in the same run, with the peak memory of each subsweep process.

    python3 bench/run.py                   # 100k and 1M orders (about 10-20 minutes)
    python3 bench/run.py --sizes 20000     # a quick look
    python3 bench/run.py --citus           # the same on a local Citus cluster beside one server

With --citus every size runs twice in the same run: on one server, then on a Citus coordinator
with two workers (`cluster.sh start` under target/bench/citus-pg, port SUBSWEEP_CITUS_PORT or
5460; or the running coordinator SUBSWEEP_CITUS_URL names, workers on the next two ports) with
`[database] citus = true`. The Citus scripts are found through SUBSWEEP_CITUS_SRC or a
shared/citus folder beside the repository or above it. Results go to bench/results-citus.md.

It uses DATABASE_URL when set (a server reachable by psql too), otherwise the embedded
cluster under target/bench/pg. Results are printed and written to bench/results.md.
Scenarios:
  a  ingest-orders of N order rows        vs  psql \\copy of the same file into an unlogged table
  b  the nightly of the purchase day      vs  the same \\copy (its input); run --repeat times
                                          (default 2) on copies, fastest vs fastest write floor
  c  the rollover day (every subscription starts a new period)
                                          vs  \\copy into an unlogged table of the lines it posted
  d  the invoice run of the purchase month vs psql \\copy (SELECT the same lines) TO a file
  e  a 365-day backfill (smallest size only): per-day cost, most days have nothing due
"""

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "bench"
BIN = ROOT / "target" / "release" / "subsweep"
PARTNER = "P-BENCH-01"
START = dt.date(2026, 1, 5)


def sh(args, **kw):
    return subprocess.run(args, check=True, **kw)


def server_url():
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url.rsplit("/", 1)[0] + "/postgres"
    # The embedded cluster: let subsweep start it, then talk to its socket.
    data_dir = WORK / "pg"
    config = WORK / "embedded.toml"
    config.write_text(f'[partner]\nid = "{PARTNER}"\ntype = "direct_bill"\n'
                      f'[database]\ndata_dir = "{data_dir}"\n')
    sh([str(BIN), "--config", str(config), "migrate"], stdout=subprocess.DEVNULL)
    return f"postgresql://postgres@localhost/postgres?host={data_dir / 'socket'}&port=5432"


def db_url(server, name):
    base, _, query = server.partition("?")
    base = base.rsplit("/", 1)[0] + "/" + name
    return base + ("?" + query if query else "")


def psql(url, command, capture=False):
    out = sh(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url, "-c", command],
             stdout=subprocess.PIPE if capture else subprocess.DEVNULL)
    return out.stdout.decode().strip() if capture else None


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def subsweep(config, url, *args):
    """Runs subsweep; returns (seconds, peak MiB): the wall time, and the process's maximum
    resident size as the kernel reports it to wait4 (no /usr/bin/time needed)."""
    cmd = [str(BIN), "--config", str(config), "--database-url", url, *args]
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            text = err.read().decode(errors="replace")
            sys.exit(f"subsweep {' '.join(args)} failed ({proc.returncode}):\n{text[-3000:]}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def write_floor(url, home, parts):
    """PostgreSQL's own cost of storing what a job stored: the rows selected by each (table,
    WHERE) part, exported in binary, then timed as one psql \\copy FROM per part into a fresh
    logged copy of the same table with the same indexes and constraints. Returns seconds."""
    script = []
    for i, (table, where) in enumerate(parts):
        cols = psql(url, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) "
                         "FROM information_schema.columns WHERE table_schema = 'public' "
                         f"AND table_name = '{table}' AND is_generated = 'NEVER'", capture=True)
        data = home / f"floor-{i}.bin"
        psql(url, f"\\copy (SELECT {cols} FROM {table} WHERE {where}) TO '{data}' BINARY")
        psql(url, f"CREATE TABLE floor_{i} (LIKE {table} INCLUDING ALL)")
        script.append(f"\\copy floor_{i} ({cols}) FROM '{data}' BINARY")
    seconds, _ = timed(lambda: sh(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url],
                                  input="\n".join(script).encode(), stdout=subprocess.DEVNULL))
    for i, _ in enumerate(parts):
        psql(url, f"DROP TABLE floor_{i}")
        (home / f"floor-{i}.bin").unlink()
    return seconds


COPY_TABLE = ("CREATE UNLOGGED TABLE copy_baseline (" +
              ", ".join(f"c{i} text" for i in range(13)) + ")")


def citus_scripts():
    """The folder holding Citus's install.sh and cluster.sh."""
    env = os.environ.get("SUBSWEEP_CITUS_SRC", "").strip()
    candidates = [Path(env)] if env else []
    candidates += [p / "shared" / "citus" for p in ROOT.parents]
    for folder in candidates:
        if (folder / "cluster.sh").is_file():
            return folder
    sys.exit("--citus: no cluster.sh found (set SUBSWEEP_CITUS_SRC to the Citus scripts' folder)")


class Citus:
    """A local Citus cluster: a coordinator and two workers on ports PORT..PORT+2."""

    def __init__(self):
        self.scripts = citus_scripts()
        self.dir = WORK / "citus-pg"
        url = os.environ.get("SUBSWEEP_CITUS_URL", "").strip()
        self.started = not url
        if url:
            self.port = int(url.split("@")[-1].split("/")[0].rsplit(":", 1)[1])
        else:
            self.port = int(os.environ.get("SUBSWEEP_CITUS_PORT", "5460"))
            sh(["bash", str(self.scripts / "install.sh")], stdout=subprocess.DEVNULL)
            sh(["bash", str(self.scripts / "cluster.sh"), "start", str(self.dir), str(self.port)],
               stdout=subprocess.DEVNULL)

    def create(self, name):
        """A database on every node with citus and the workers registered; its URL."""
        self.drop(name)
        out = sh(["bash", str(self.scripts / "cluster.sh"), "db", str(self.dir), name,
                  str(self.port)], capture_output=True, text=True)
        return out.stdout.strip().splitlines()[-1]

    def drop(self, name):
        sh(["bash", str(self.scripts / "cluster.sh"), "dropdb", str(self.dir), name,
            str(self.port)], stdout=subprocess.DEVNULL)

    def stop(self):
        if self.started:
            sh(["bash", str(self.scripts / "cluster.sh"), "stop", str(self.dir)])


def prepare(server, name, home, orders, citus=None):
    """A fresh database and workspace with the generated data set loaded and in the inbox;
    on the Citus cluster when `citus` is given."""
    if citus is None:
        admin = db_url(server, "postgres")
        psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        psql(admin, f"CREATE DATABASE {name}")
        url = db_url(server, name)
    else:
        url = citus.create(name)
    shutil.rmtree(home, ignore_errors=True)
    data = home / "data"
    sh([str(BIN), "generate", "--customers", str(max(orders // 10, 1)), "--orders", str(orders),
        "--seed", "42", "--partner", PARTNER, "--start", str(START), "--days", "1",
        "--out", str(data)], stdout=subprocess.DEVNULL)
    config = home / "jobs.toml"
    config.write_text(f'[partner]\nid = "{PARTNER}"\ntype = "direct_bill"\n'
                      '[intake]\ninbox = "data/inbox"\narchive = "archive"\nfailed = "failed"\n'
                      'settle_seconds = 0\n[output]\ndir = "out"\n'
                      + ('[database]\ncitus = true\n' if citus else ''))
    sh([str(BIN), "--config", str(config), "--database-url", url, "migrate"],
       stdout=subprocess.DEVNULL)
    for command, file in (("load-catalog", "offers.csv"), ("load-customers", "customers.csv")):
        sh([str(BIN), "--config", str(config), "--database-url", url, command, str(data / file)],
           stdout=subprocess.DEVNULL)
    return url, config, data


def file_copy(admin):
    """`CREATE DATABASE`'s copy by files where the server has it (PostgreSQL 15 and later):
    a checkpoint, then the files, instead of writing the whole database into the WAL."""
    version = int(psql(admin, "SHOW server_version_num", capture=True))
    return " STRATEGY FILE_COPY" if version >= 150000 else ""


def run_size(server, orders, with_backfill, citus=None, repeat=2):
    name = f"subsweep_bench_{orders}" + ("_citus" if citus else "")
    home = WORK / (f"n{orders}" + ("-citus" if citus else ""))
    url, config, data = prepare(server, name, home, orders, citus)
    order_file = next((data / "inbox").glob("*.csv"))

    rows = []
    # a: ingest vs \copy of the same file into an unlogged table.
    psql(url, COPY_TABLE)
    copy_in, _ = timed(lambda: psql(url, f"\\copy copy_baseline FROM '{order_file}' CSV HEADER"))
    psql(url, "DROP TABLE copy_baseline")
    # The same \copy into a logged table: what durability alone costs, before any key.
    psql(url, COPY_TABLE.replace("UNLOGGED ", ""))
    copy_logged, _ = timed(lambda: psql(url, f"\\copy copy_baseline FROM '{order_file}' CSV HEADER"))
    psql(url, "DROP TABLE copy_baseline")
    s, mib = subsweep(config, url, "run", "ingest-orders", "--date", str(START))
    floor = write_floor(url, home, [("staged_events", "TRUE"), ("inbox_files", "TRUE")])
    rows.append(("a ingest-orders", orders, s, copy_in, floor, mib))
    rows.append(("  the same \\copy into a logged table", orders, copy_logged, copy_in, None, None))

    # b: the purchase day's nightly (ingest already done: it finds an empty inbox), `repeat`
    # times: on copies of the post-ingest database first, then on the database itself, each run
    # followed by its own write floor. The figure is the fastest run against the fastest floor
    # (both timed the same way, on a shared machine whose load only ever adds time); each run
    # against its own floor is printed below it.
    day = f"'{START}'"
    parts = [("subscriptions", "TRUE"), ("applied_events", f"applied_on = {day}"),
             ("charge_lines", f"posted_on = {day}"), ("rejected_rows", f"processed_on = {day}")]
    purchase_runs = []
    for i in range(1, 1 if citus else repeat):
        copy = f"{name}_b{i}"
        admin = db_url(server, "postgres")
        psql(admin, f"DROP DATABASE IF EXISTS {copy} WITH (FORCE)")
        psql(admin, f"CREATE DATABASE {copy} TEMPLATE {name}{file_copy(admin)}")
        copy_url = db_url(server, copy)
        s, mib = subsweep(config, copy_url, "nightly", "--date", str(START))
        purchase_runs.append((s, write_floor(copy_url, home, parts), mib))
        psql(admin, f"DROP DATABASE {copy}")
    s, mib = subsweep(config, url, "nightly", "--date", str(START))
    purchase_runs.append((s, write_floor(url, home, parts), mib))
    rows.append(("b purchase day nightly", orders, min(r[0] for r in purchase_runs), copy_in,
                 min(r[1] for r in purchase_runs), max(r[2] for r in purchase_runs)))
    if len(purchase_runs) > 1:
        for i, (s, floor, mib) in enumerate(purchase_runs, 1):
            rows.append((f"  run {i} of {len(purchase_runs)}, against its own floor", orders, s,
                         copy_in, floor, mib))

    # The quiet days up to the rollover, then the rollover day itself.
    first_roll = START + dt.timedelta(days=31)  # 2026-02-05: every monthly period rolls
    s_quiet, mib_quiet = subsweep(config, url, "backfill", "--from", str(START + dt.timedelta(days=1)),
                                  "--to", str(first_roll - dt.timedelta(days=1)))
    # What reading the due families' rows costs the server alone (renewals' own query).
    due = (ROOT / "src" / "store" / "due_renewals.sql").read_text()
    due = "\n".join(l for l in due.splitlines() if not l.startswith("--"))
    due = (due.replace("$1", f"DATE '{first_roll}'").replace("$2", str(first_roll.day))
           .replace("$3", "FALSE")  # the 5th is no month end
           .replace("$4", str(first_roll.month)))
    members = f"SELECT * FROM subscriptions WHERE family_id IN ({due}) ORDER BY family_id"
    read_due, _ = timed(lambda: psql(url, f"\\copy ({members}) TO '/dev/null' BINARY"))
    due_rows = int(psql(url, f"SELECT count(*) FROM ({members}) m", capture=True))
    s, mib = subsweep(config, url, "nightly", "--date", str(first_roll))
    posted = int(psql(url, f"SELECT count(*) FROM charge_lines WHERE posted_on = '{first_roll}'",
                      capture=True))
    lines_file = home / "rollover-lines.csv"
    psql(url, f"\\copy (SELECT * FROM charge_lines WHERE posted_on = '{first_roll}') TO '{lines_file}' CSV")
    psql(url, "CREATE UNLOGGED TABLE copy_lines (LIKE charge_lines)")
    copy_lines, _ = timed(lambda: psql(url, f"\\copy copy_lines FROM '{lines_file}' CSV"))
    psql(url, "DROP TABLE copy_lines")
    floor = write_floor(url, home, [("charge_lines", f"posted_on = '{first_roll}'")])
    rows.append(("c rollover day nightly", posted, s, copy_lines, floor, mib))
    rows.append(("  reading its due rows (\\copy TO)", due_rows, read_due, copy_lines, None, None))
    # The target of issue 17: the rollover against writing its lines plus reading its rows.
    rows.append(("  c against its write floor + reading its rows", posted, s, None,
                 floor + read_due, None))
    days_quiet = (first_roll - START).days - 1
    rows.append((f"  {days_quiet} days before it (backfill)", days_quiet, s_quiet, None, None, mib_quiet))
    quiet = quiet_day(url, START + dt.timedelta(days=1), first_roll - dt.timedelta(days=1),
                      s_quiet, days_quiet)

    # d: the January invoice (emitted on 01-31 during the backfill): time a forced re-run,
    # which rewrites the same files, against COPY TO of the same lines.
    period = "2026-01-01"
    invoiced = int(psql(url, f"SELECT count(*) FROM charge_lines WHERE invoice_period_start = '{period}'",
                        capture=True))
    out_file = home / "copy-to.csv"
    copy_out, _ = timed(lambda: psql(
        url, "\\copy (SELECT l.*, c.name, c.country, s.order_id, s.parent_subscription_id, "
             "s.offer_id, o.name, o.publisher_name FROM charge_lines l "
             "JOIN customers c USING (customer_id) "
             "JOIN subscriptions s ON s.subscription_id = l.subscription_id "
             "AND s.customer_id = l.customer_id "
             "JOIN offers o ON o.offer_id = s.offer_id "
             f"WHERE l.invoice_period_start = '{period}' ORDER BY l.customer_id, l.subscription_id, "
             f"l.posted_on, l.start_date, l.line_id) TO '{out_file}' CSV HEADER"))
    s, mib = subsweep(config, url, "run", "invoices", "--date", "2026-01-31", "--force")
    rows.append(("d invoice run (Jan)", invoiced, s, copy_out, None, mib))

    if with_backfill:
        # e: a 365-day backfill of the same data set, on a fresh database and workspace.
        e_url, e_config, _ = prepare(server, f"{name}_e", home / "e", orders, citus)
        end = START + dt.timedelta(days=364)
        # The year runs past today: a simulation, so the future-date guard is lifted.
        s, mib = subsweep(e_config, e_url, "backfill", "--from", str(START), "--to", str(end),
                          "--allow-future")
        rows.append(("e 365-day backfill (days)", 365, s, None, None, mib))
        quiet += quiet_day(e_url, START, end, s, 365, label="e 365-day backfill")
    return rows, quiet


QUIET_JOBS = ("trial-conversions", "renewals", "suspension-expiry", "apply-orders", "invoices")


def quiet_day(url, first, last, wall_s, days, label="quiet days before the rollover"):
    """A quiet day's cost per job, from the ledger rows of the backfilled days `first..last`:
    the median and the largest time of each job inside its ledger row (started_at to
    finished_at), the median day's span per job (first start to last end: the runner's work
    between jobs included), and the whole backfill's wall time per day and job (the big days
    and the process start included). Days with something due (the 1st, an invoice day) are in the
    range; the median is the quiet day."""
    out = []
    stats = psql(url, "SELECT job, round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY "
                      "extract(epoch FROM finished_at - started_at))::numeric, 1), "
                      "round(1000 * max(extract(epoch FROM finished_at - started_at))::numeric, 1) "
                      f"FROM job_runs WHERE logical_date BETWEEN '{first}' AND '{last}' "
                      "AND status = 'succeeded' GROUP BY job", capture=True)
    by_job = {line.split("|")[0]: line.split("|")[1:] for line in stats.splitlines() if line}
    for job in QUIET_JOBS:
        median, largest = by_job.get(job, ("-", "-"))
        out.append((label, job, median, largest))
    # A day from its first job's start to its last job's end: the runner's work between the
    # jobs included (ledger, locks, commits), the process start and the ingest excluded.
    span = psql(url, "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric / "
                     f"{len(QUIET_JOBS)}, 1) FROM (SELECT 1000 * extract(epoch FROM "
                     "max(finished_at) - min(started_at)) AS ms FROM job_runs "
                     f"WHERE logical_date BETWEEN '{first}' AND '{last}' "
                     "AND job <> 'ingest-orders' GROUP BY logical_date) d", capture=True)
    out.append((label, "all five: median day span per job", span, "-"))
    per_job = 1000 * wall_s / (days * len(QUIET_JOBS))
    out.append((label, "all five, wall time per day and job", f"{per_job:.1f}", "-"))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--citus", action="store_true",
                        help="also run every size on a local Citus cluster, beside one server")
    parser.add_argument("--no-backfill", action="store_true",
                        help="skip scenario e (the 365-day backfill)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of the purchase day (b), each with its own write floor; "
                             "the fastest against the fastest is reported (one server only)")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    if shutil.which("psql") is None:
        sys.exit("psql is needed for the COPY baselines (apt install postgresql-client)")
    WORK.mkdir(parents=True, exist_ok=True)
    server = server_url()
    citus = Citus() if args.citus else None
    engines = [("one server", None)] + ([("citus", citus)] if citus else [])
    table = ["| size | scenario | rows | seconds | rows/s | COPY baseline s | ratio "
             "| write floor s | ratio to floor | peak MiB |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    quiet_table = ["| size | days | job | median ms per day | max ms |", "|---:|---|---|---:|---:|"]
    if citus:
        for t in (table, quiet_table):
            t[0] = "| engine " + t[0]
            t[1] = "|---" + t[1]
    runs = [(size, engine, cluster) for size in sizes for engine, cluster in engines]
    for size, engine, cluster in runs:
        backfill = size == min(sizes) and not args.no_backfill
        rows, quiet = run_size(server, size, backfill, cluster, max(args.repeat, 1))
        for label, job, median, largest in quiet:
            line = f"| {size:,} | {label} | {job} | {median} | {largest} |"
            if citus:
                line = f"| {engine} " + line
            quiet_table.append(line)
            print(line, flush=True)
        for label, n, s, base, floor, mib in rows:
            ratio = f"{s / base:.2f}x" if base else "-"
            base_s = f"{base:.2f}" if base else "-"
            floor_ratio = f"{s / floor:.2f}x" if floor else "-"
            floor_s = f"{floor:.2f}" if floor else "-"
            mib_s = f"{mib:.0f}" if mib is not None else "-"
            line = (f"| {size:,} | {label} | {n:,} | {s:.2f} | {n / s:,.0f} | {base_s} | {ratio} "
                    f"| {floor_s} | {floor_ratio} | {mib_s} |")
            if citus:
                line = f"| {engine} " + line
            table.append(line)
            print(line, flush=True)
    cpu = os.cpu_count()
    header = (f"subsweep benchmark, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
              f"{cpu} cores, database: {'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'embedded'}\n\n")
    if citus:
        header = header.replace("\n\n", ", citus: a coordinator and 2 workers on the same "
                                "machine (COPY baselines and floors: local tables of the "
                                "coordinator)\n\n")
        citus.stop()
    text = (header + "\n".join(table) + "\n\nA quiet day, per job (inside its ledger row; the "
            "last two rows of each set: the median day from its first job's start to its last job's end, "
            "and the backfill's wall time, per day and job):\n\n"
            + "\n".join(quiet_table) + "\n")
    (ROOT / "bench" / ("results-citus.md" if citus else "results.md")).write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
