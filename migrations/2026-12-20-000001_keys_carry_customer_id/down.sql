ALTER TABLE invoices ADD FOREIGN KEY (period_start) REFERENCES invoice_runs;
ALTER TABLE invoices ADD FOREIGN KEY (customer_id) REFERENCES customers;

ALTER TABLE invoices DROP CONSTRAINT invoices_pkey, ADD PRIMARY KEY (invoice_number);

ALTER TABLE charge_lines DROP CONSTRAINT charge_lines_once,
    ADD UNIQUE (subscription_id, charge_type, start_date, end_date, cause);
ALTER TABLE charge_lines DROP CONSTRAINT charge_lines_corrects_fkey;
ALTER TABLE charge_lines DROP CONSTRAINT charge_lines_pkey, ADD PRIMARY KEY (line_id);
ALTER TABLE charge_lines ADD FOREIGN KEY (corrects_line_id) REFERENCES charge_lines;

ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_parent_fkey;
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_pkey, ADD PRIMARY KEY (subscription_id);
ALTER TABLE subscriptions ADD FOREIGN KEY (parent_subscription_id) REFERENCES subscriptions;

ALTER TABLE applied_events DROP CONSTRAINT applied_events_pkey, ADD PRIMARY KEY (event_id);
ALTER TABLE applied_events DROP COLUMN customer_id;
