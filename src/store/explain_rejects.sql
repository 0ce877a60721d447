-- Rejected rows that named one of a family's subscriptions ($1) under the family's customer
-- ($2): as the subscription acted on, as the base of an add-on, or as the subscription a
-- purchase would have created (<order_id>-<line>). A staged row is read through its parsed
-- values; a malformed row (never staged) through the values as written (raw[], in the order
-- of the order-file columns). A row naming the id under another customer is not returned.
-- The customer both ways is the written value trimmed as the order-file reader trims it
-- (order_value_trim: the parsed customer_id of a staged row; for a row never staged, $2, a
-- parsed id, has no white space at either end, so it equals raw[5] cut of its spaces exactly
-- when it equals raw[5] cut of any white space): the index rejected_rows_customer finds the
-- candidates, and the test below on the values themselves decides.
WITH named AS (
    SELECT r.reject_id, r.file_id, r.source_line, r.processed_on, r.error_code,
           r.error_message,
           coalesce(e.order_id, btrim(r.raw[1])) AS order_id,
           coalesce(e.line::text, btrim(r.raw[2])) AS line,
           coalesce(to_char(e.event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                    btrim(r.raw[3])) AS event_time,
           coalesce(e.action, btrim(r.raw[4])) AS action,
           coalesce(e.customer_id, btrim(r.raw[5])) AS customer_id,
           coalesce(e.subscription_id, nullif(btrim(r.raw[10]), '')) AS subscription_id,
           coalesce(e.base_subscription_id, nullif(btrim(r.raw[11]), '')) AS base_id
    FROM rejected_rows r
    LEFT JOIN staged_events e ON e.event_id = r.event_id
    WHERE order_value_trim(r.raw[5]) = $2
)
SELECT f.file_name, n.source_line, n.processed_on, n.order_id, n.line, n.event_time,
       n.action, n.error_code, n.error_message
FROM named n
JOIN inbox_files f ON f.file_id = n.file_id
WHERE n.customer_id = $2
  AND (n.subscription_id = ANY($1)
       OR n.base_id = ANY($1)
       OR (n.action = 'purchase' AND n.order_id || '-' || n.line = ANY($1)))
ORDER BY n.processed_on, f.file_name COLLATE "C", n.source_line, n.reject_id
