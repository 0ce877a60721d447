-- The lines of one invoice period, in invoice-lines.csv order (SPEC section 7), with what each
-- line's row needs from its subscription. The period start is the export
-- parameter. Ids sort bytewise ("C") so the order never depends on the server's locale.
-- A period's invoices are numbered in bytewise customer_id order, one per customer, so
-- customer order is invoice number order: the writer puts each line on its customer's invoice
-- (skipping a customer without one, as a join on invoices would) and refuses lines whose
-- invoice numbers go backwards. Leaving the invoices out of the join saves the server a fifth
-- of the export. The customer's name and country come with its stored invoice (a line whose
-- customer has no row has no invoice either), and the offer's name and publisher from the
-- catalog the writer loads first (a line whose offer is unknown is not written, as a join
-- would drop it): joining customers and offers here, two index lookups a line, made the
-- server's export about half again as long at a million orders.
SELECT l.customer_id, s.order_id, l.subscription_id,
       s.parent_subscription_id, s.offer_id, l.charge_type,
       l.start_date, l.end_date, l.billable_days, l.period_days, l.unit_price, l.quantity,
       l.amount, s.currency, s.billing_months, l.posted_on
FROM charge_lines l
JOIN subscriptions s ON s.subscription_id = l.subscription_id AND s.customer_id = l.customer_id
WHERE l.invoice_period_start = current_setting('subsweep.export_param')::date
ORDER BY l.customer_id COLLATE "C", l.subscription_id COLLATE "C", l.posted_on, l.start_date,
         l.line_id
