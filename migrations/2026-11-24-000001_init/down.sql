DROP TABLE state_clock, job_runs, invoices, invoice_runs, charge_lines, rejected_rows,
    applied_events, subscriptions, staged_events, inbox_files, customers, offers;
