-- What every night has added up to, read from the tables themselves (so it survives restarts
-- and counts the work of every command, not only serve's): one row.
SELECT
    (SELECT coalesce(sum(rows_received), 0) FROM inbox_files WHERE outcome = 'ingested')::bigint
        AS rows_received,
    (SELECT coalesce(sum(rows_staged), 0) FROM inbox_files WHERE outcome = 'ingested')::bigint
        AS rows_staged,
    (SELECT count(*) FROM applied_events) AS rows_applied,
    (SELECT count(*) FROM rejected_rows) AS rows_rejected,
    (SELECT count(*) FROM inbox_files WHERE outcome = 'ingested') AS files_ingested,
    (SELECT count(*) FROM inbox_files WHERE outcome = 'failed') AS files_failed,
    (SELECT count(*) FROM charge_lines) AS lines_posted,
    (SELECT count(*) FROM invoices) AS invoices_emitted
