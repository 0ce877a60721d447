DROP TABLE output_owner;
ALTER TABLE job_runs DROP COLUMN lock_pid;
UPDATE job_runs SET status = 'failed' WHERE status = 'interrupted';
ALTER TABLE job_runs DROP CONSTRAINT job_runs_status_check;
ALTER TABLE job_runs ADD CONSTRAINT job_runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed'));
