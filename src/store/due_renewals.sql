-- Families with a live member whose billing period starts on $1: its anchor's day of month
-- is $1's, or $1 is a month's last day ($3) shorter than the anchor's day; for annual billing
-- the anchor's month is $1's ($4).
SELECT DISTINCT family_id
FROM subscriptions
WHERE status IN ('active', 'suspended')
  AND anchor_date IS NOT NULL
  AND paid_start < $1
  AND (anchor_day = $2 OR ($3 AND anchor_day > $2))
  AND (billing_months = 1 OR anchor_month = $4)
ORDER BY family_id
