-- A run stopped by Ctrl-C or SIGTERM is rolled back and recorded as interrupted.
ALTER TABLE job_runs DROP CONSTRAINT job_runs_status_check;
ALTER TABLE job_runs ADD CONSTRAINT job_runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted'));
-- The backend pid of the session holding the job's advisory lock during the attempt: a
-- `running` row whose pid no longer holds the lock belongs to a process that died.
ALTER TABLE job_runs ADD COLUMN lock_pid INTEGER;

-- The output folder this database writes its files into (claimed on first use), and the
-- identity written into the folder's owner mark, so that two databases never write into the
-- same folder.
CREATE TABLE output_owner (
    singleton   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    database_id TEXT NOT NULL,
    output_dir  TEXT NOT NULL,
    claimed_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
