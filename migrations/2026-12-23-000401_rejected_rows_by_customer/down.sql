DROP INDEX rejected_rows_customer;
DROP FUNCTION order_value_trim(TEXT);
