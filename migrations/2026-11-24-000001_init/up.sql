-- subsweep schema: catalog, intake, subscriptions and their accepted history, charges,
-- invoices, and the job machinery. Money is NUMERIC, business dates are DATE, instants are
-- TIMESTAMPTZ. Unique constraints are what make re-runs idempotent.

-- ---------------------------------------------------------------- catalog (SPEC section 2)
CREATE TABLE offers (
    offer_id            TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    publisher           TEXT NOT NULL CHECK (publisher IN ('microsoft', 'isv')),
    publisher_name      TEXT NOT NULL,
    billing_type        TEXT NOT NULL CHECK (billing_type IN ('license', 'usage')),
    billing_frequency   TEXT NOT NULL CHECK (billing_frequency IN ('monthly', 'annual')),
    term_months         INTEGER NOT NULL CHECK (term_months IN (1, 12, 36)),
    unit_price          NUMERIC NOT NULL CHECK (unit_price >= 0),
    currency            TEXT NOT NULL,
    category            TEXT NOT NULL CHECK (category IN ('enterprise', 'small_business', 'trial')),
    segments            TEXT[] NOT NULL,
    one_per_customer    BOOLEAN NOT NULL,
    trial_days          INTEGER NOT NULL CHECK (trial_days >= 0),
    csp_available       BOOLEAN NOT NULL,
    transactable        BOOLEAN NOT NULL,
    countries           TEXT[] NOT NULL,           -- '{*}' means every country
    exclusive_partners  TEXT[] NOT NULL,           -- empty means every partner
    is_addon            BOOLEAN NOT NULL,
    base_offers         TEXT[] NOT NULL,
    min_quantity        INTEGER,
    max_quantity        INTEGER,
    publisher_setup_url TEXT
);

CREATE TABLE customers (
    customer_id       TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    country           TEXT NOT NULL,
    segment           TEXT NOT NULL CHECK (segment IN ('commercial', 'education', 'government', 'nonprofit')),
    currency          TEXT NOT NULL,
    account_opened_on DATE NOT NULL
);

-- ---------------------------------------------------------------- intake (SPEC section 3)
-- Every inbox file subsweep took a decision on: ingested (its rows staged) or failed.
CREATE TABLE inbox_files (
    file_id        BIGSERIAL PRIMARY KEY,
    file_name      TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    logical_date   DATE NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('ingested', 'failed')),
    error          TEXT,
    rows_received  INTEGER NOT NULL DEFAULT 0,
    rows_staged    INTEGER NOT NULL DEFAULT 0,
    rows_rejected  INTEGER NOT NULL DEFAULT 0,
    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (outcome <> 'ingested' OR rows_received = rows_staged + rows_rejected)
);
-- A file's bytes are ingested at most once.
CREATE UNIQUE INDEX inbox_files_ingested_sha256 ON inbox_files (sha256) WHERE outcome = 'ingested';

-- Rows of ingested files that parsed. (order_id, line) identifies an order row for good.
-- Rows are only ever staged in the transaction that records their file, so file_id carries no
-- foreign key: measured on a million rows, the per-row check doubled the cost of the insert
-- (8.7 s vs 4.2 s).
CREATE TABLE staged_events (
    event_id             BIGSERIAL PRIMARY KEY,
    file_id              BIGINT NOT NULL,
    source_line          INTEGER NOT NULL,
    order_id             TEXT NOT NULL,
    line                 INTEGER NOT NULL CHECK (line >= 1),
    event_time           TIMESTAMPTZ NOT NULL,
    event_date           DATE NOT NULL,
    action               TEXT NOT NULL,
    customer_id          TEXT NOT NULL,
    requested_by         TEXT NOT NULL,
    partner_id           TEXT NOT NULL,
    offer_id             TEXT,
    quantity             NUMERIC CHECK (quantity >= 0),
    subscription_id      TEXT,
    base_subscription_id TEXT,
    auto_renew           BOOLEAN,
    reason               TEXT,
    -- The row's 13 values exactly as written, in SPEC section 3 column order, for reports;
    -- NULL when they are the plain rendering of the parsed columns (domain::order::
    -- plain_values), as machine-written rows are: storing them again cost a third of intake.
    raw                  TEXT[],
    UNIQUE (order_id, line)
);
-- Rows are appended file by file, so their dates follow the insertion order closely: a BRIN
-- index finds the late-dated rows apply-orders looks for, at almost no cost to intake (a
-- B-tree here cost a fifth of it).
CREATE INDEX staged_events_event_date ON staged_events USING brin (event_date);

-- ---------------------------------------------------------------- subscriptions (SPEC section 5)
-- One row per subscription: the terms snapshotted from the catalog at purchase, and the state
-- the pure core computed (a cache of the fold of the accepted history). The purchase rules
-- reject unknown customers and offers before a subscription exists, so customer_id and
-- offer_id carry no foreign key: on a purchase day of a million rows the two checks per row
-- cost half as much again as the insert itself.
CREATE TABLE subscriptions (
    subscription_id        TEXT PRIMARY KEY,
    family_id              TEXT NOT NULL,          -- the base subscription (itself for a base)
    parent_subscription_id TEXT REFERENCES subscriptions,
    customer_id            TEXT NOT NULL,
    offer_id               TEXT NOT NULL,
    order_id               TEXT NOT NULL,
    order_line             INTEGER NOT NULL,
    purchased_at           TIMESTAMPTZ NOT NULL,
    -- terms
    billing_type           TEXT NOT NULL,
    billing_months         SMALLINT NOT NULL CHECK (billing_months IN (1, 12)),
    term_months            SMALLINT NOT NULL CHECK (term_months IN (1, 12, 36)),
    unit_price             NUMERIC NOT NULL,
    currency               TEXT NOT NULL,
    trial_days             INTEGER NOT NULL,
    -- state
    status                 TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'cancelled', 'expired', 'deleted')),
    in_trial               BOOLEAN NOT NULL,
    quantity               NUMERIC,
    auto_renew             BOOLEAN NOT NULL,
    cancel_at_term_end     BOOLEAN NOT NULL,
    cancel_with_base       BOOLEAN NOT NULL,
    trial_end_date         DATE,
    paid_start             DATE,
    anchor_date            DATE,                   -- billing calendar anchor (the base's paid start for an add-on)
    suspended_on           DATE,
    suspended_with_base    BOOLEAN NOT NULL,
    data_expires_on        DATE,
    ended_on               DATE,
    usage_units            NUMERIC NOT NULL DEFAULT 0,  -- metered units not yet billed
    anchor_day             SMALLINT GENERATED ALWAYS AS (EXTRACT(DAY FROM anchor_date)::SMALLINT) STORED,
    anchor_month           SMALLINT GENERATED ALWAYS AS (EXTRACT(MONTH FROM anchor_date)::SMALLINT) STORED
);
CREATE INDEX subscriptions_family ON subscriptions (family_id);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id, offer_id);
CREATE INDEX subscriptions_anchor_live ON subscriptions (anchor_day) WHERE status IN ('active', 'suspended');
CREATE INDEX subscriptions_trial_end ON subscriptions (trial_end_date) WHERE in_trial;
CREATE INDEX subscriptions_data_expiry ON subscriptions (data_expires_on) WHERE status = 'suspended';

-- The accepted history: staged events that were applied, in the family they belong to.
-- Only apply-orders writes it, for staged events it has just read in the same transaction, so
-- event_id carries no foreign key: on a purchase day the per-row check cost a third of the
-- insert.
CREATE TABLE applied_events (
    event_id        BIGINT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    family_id       TEXT NOT NULL,
    applied_on      DATE NOT NULL,
    retention_days  INTEGER                        -- suspend: resolved when accepted
);
CREATE INDEX applied_events_family ON applied_events (family_id);
-- Rows are appended in application order, so a BRIN index finds a day's rows (reports) for free.
CREATE INDEX applied_events_applied_on ON applied_events USING brin (applied_on);

-- Rows that were rejected, at intake (malformed_row, duplicate_line) or by the rules.
CREATE TABLE rejected_rows (
    reject_id     BIGSERIAL PRIMARY KEY,
    processed_on  DATE NOT NULL,
    file_id       BIGINT NOT NULL REFERENCES inbox_files,
    source_line   INTEGER NOT NULL,
    event_id      BIGINT UNIQUE REFERENCES staged_events,
    error_code    TEXT NOT NULL,
    error_message TEXT NOT NULL,
    raw           TEXT[] NOT NULL
);
CREATE INDEX rejected_rows_processed_on ON rejected_rows (processed_on);

-- ---------------------------------------------------------------- charges (SPEC section 6)
-- Lines are only ever posted by the rules for subscriptions they loaded, so subscription_id has
-- no foreign key: on a day posting a million lines the check would cost more than the insert.
CREATE TABLE charge_lines (
    line_id              BIGSERIAL PRIMARY KEY,
    subscription_id      TEXT NOT NULL,
    customer_id          TEXT NOT NULL,
    charge_type          TEXT NOT NULL,
    start_date           DATE NOT NULL,
    end_date             DATE NOT NULL,
    billable_days        INTEGER NOT NULL,
    period_days          INTEGER NOT NULL,
    unit_price           NUMERIC NOT NULL,
    quantity             NUMERIC NOT NULL,
    amount               NUMERIC NOT NULL,
    posted_on            DATE NOT NULL,
    -- what caused the line: "purchase", "period", "order:<order_id>:<line>", ...
    cause                TEXT NOT NULL,
    corrects_line_id     BIGINT REFERENCES charge_lines,
    invoice_period_start DATE NOT NULL,
    CHECK (end_date >= start_date),
    -- two processes can never post the same line twice (and a family's lines are found by it)
    UNIQUE (subscription_id, charge_type, start_date, end_date, cause)
);
-- Lines are appended roughly in posting order, so a BRIN index finds a period's lines cheaply.
CREATE INDEX charge_lines_invoice ON charge_lines USING brin (invoice_period_start);

-- ---------------------------------------------------------------- invoices (SPEC section 7)
CREATE TABLE invoice_runs (
    period_start DATE PRIMARY KEY,
    period_end   DATE NOT NULL,
    emitted_on   DATE NOT NULL,
    invoice_count INTEGER NOT NULL,
    line_count   INTEGER NOT NULL
);

CREATE TABLE invoices (
    invoice_number TEXT PRIMARY KEY,
    customer_id    TEXT NOT NULL REFERENCES customers,
    period_start   DATE NOT NULL REFERENCES invoice_runs,
    period_end     DATE NOT NULL,
    line_count     INTEGER NOT NULL,
    total          NUMERIC NOT NULL,
    currency       TEXT NOT NULL,
    UNIQUE (customer_id, period_start)
);

-- ---------------------------------------------------------------- jobs (SPEC section 8)
CREATE TABLE job_runs (
    job          TEXT NOT NULL,
    logical_date DATE NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    attempt      INTEGER NOT NULL,
    trigger      TEXT NOT NULL CHECK (trigger IN ('cli', 'cron', 'backfill')),
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    counts       TEXT NOT NULL DEFAULT '{}',       -- JSON object of the run's counts
    error        TEXT,
    PRIMARY KEY (job, logical_date)
);

-- How far the subscription state has been carried: every (date, step) up to this point has
-- been applied. Steps: 1 trial-conversions, 2 renewals, 3 suspension-expiry, 4 apply-orders.
CREATE TABLE state_clock (
    singleton    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    through_date DATE NOT NULL,
    through_step SMALLINT NOT NULL CHECK (through_step BETWEEN 1 AND 4),
    -- What apply-orders has taken: every staged event with event_id <= orders_event_mark and
    -- event_date <= orders_date_mark is applied or rejected. It lets a day find its pending
    -- events without scanning the whole history.
    orders_event_mark BIGINT NOT NULL DEFAULT 0,
    orders_date_mark  DATE
);
