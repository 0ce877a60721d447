ALTER TABLE charge_lines
    ALTER COLUMN end_date SET STATISTICS -1,
    ALTER COLUMN billable_days SET STATISTICS -1,
    ALTER COLUMN period_days SET STATISTICS -1,
    ALTER COLUMN unit_price SET STATISTICS -1,
    ALTER COLUMN quantity SET STATISTICS -1,
    ALTER COLUMN amount SET STATISTICS -1,
    ALTER COLUMN cause SET STATISTICS -1,
    ALTER COLUMN corrects_line_id SET STATISTICS -1;
ALTER TABLE subscriptions
    ALTER COLUMN order_id SET STATISTICS -1,
    ALTER COLUMN order_line SET STATISTICS -1,
    ALTER COLUMN purchased_at SET STATISTICS -1,
    ALTER COLUMN billing_type SET STATISTICS -1,
    ALTER COLUMN term_months SET STATISTICS -1,
    ALTER COLUMN unit_price SET STATISTICS -1,
    ALTER COLUMN currency SET STATISTICS -1,
    ALTER COLUMN trial_days SET STATISTICS -1,
    ALTER COLUMN quantity SET STATISTICS -1,
    ALTER COLUMN auto_renew SET STATISTICS -1,
    ALTER COLUMN cancel_at_term_end SET STATISTICS -1,
    ALTER COLUMN cancel_with_base SET STATISTICS -1,
    ALTER COLUMN suspended_on SET STATISTICS -1,
    ALTER COLUMN suspended_with_base SET STATISTICS -1,
    ALTER COLUMN ended_on SET STATISTICS -1,
    ALTER COLUMN usage_units SET STATISTICS -1;
DROP INDEX subscriptions_customer;
CREATE INDEX subscriptions_customer ON subscriptions (customer_id, offer_id);
