DROP INDEX subscriptions_family;
CREATE INDEX subscriptions_family ON subscriptions (family_id);
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_family_is_base_or_parent;
