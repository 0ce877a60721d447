-- Every key of a table that grows with the business carries customer_id, so the same schema can
-- be distributed by customer_id on Citus (`[database] citus = true`), where a unique key or a
-- foreign key between distributed tables must include the distribution column. Nothing
-- observable changes on one server: a subscription, a line, an invoice and an applied event
-- all belong to exactly one customer, and the rules (under the job's advisory lock) never
-- create a subscription id that exists for another customer (`family_of` looks ids up across
-- all customers), so the wider keys admit no row the narrower ones refused.

-- applied_events gains the customer of the family it was applied to (its distribution column).
ALTER TABLE applied_events ADD COLUMN customer_id TEXT;
UPDATE applied_events a SET customer_id = s.customer_id
FROM subscriptions s WHERE s.subscription_id = a.subscription_id;
ALTER TABLE applied_events ALTER COLUMN customer_id SET NOT NULL;
ALTER TABLE applied_events DROP CONSTRAINT applied_events_pkey,
    ADD PRIMARY KEY (event_id, customer_id);

-- An add-on belongs to its base's customer (eligibility checks it), so the parent reference
-- can name the customer too.
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_parent_subscription_id_fkey;
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_pkey,
    ADD PRIMARY KEY (subscription_id, customer_id);
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_parent_fkey
    FOREIGN KEY (parent_subscription_id, customer_id) REFERENCES subscriptions (subscription_id, customer_id);

-- A correcting line corrects a line of the same subscription, hence of the same customer.
ALTER TABLE charge_lines DROP CONSTRAINT charge_lines_corrects_line_id_fkey;
ALTER TABLE charge_lines DROP CONSTRAINT charge_lines_pkey,
    ADD PRIMARY KEY (line_id, customer_id);
ALTER TABLE charge_lines ADD CONSTRAINT charge_lines_corrects_fkey
    FOREIGN KEY (corrects_line_id, customer_id) REFERENCES charge_lines (line_id, customer_id);
-- Still: two processes can never post the same line twice (subscription_id stays first, so a
-- family's lines are found by it as before).
ALTER TABLE charge_lines DROP CONSTRAINT charge_lines_subscription_id_charge_type_start_date_end_dat_key,
    ADD CONSTRAINT charge_lines_once UNIQUE (subscription_id, charge_type, start_date, end_date, cause, customer_id);

-- Invoice numbers are given once per period by the invoices job (invoice_runs keeps a period
-- from being numbered twice).
ALTER TABLE invoices DROP CONSTRAINT invoices_pkey,
    ADD PRIMARY KEY (invoice_number, customer_id);

-- Invoices reference neither their run nor their customer any more. A period's run is written
-- in the same transaction as its invoices (store::invoices::insert_run), and an invoice is
-- only made for a customer with lines, hence with a subscription the rules let that known
-- customer buy (customers are upserted, never deleted): neither reference checked anything
-- that could fail. On Citus a foreign key from a distributed table to another table forces a
-- transaction that read the shards in parallel (the invoices job) to touch the referenced
-- table over one connection per node, and the job's later reads then fail.
ALTER TABLE invoices DROP CONSTRAINT invoices_period_start_fkey;
ALTER TABLE invoices DROP CONSTRAINT invoices_customer_id_fkey;
