-- Snapshot description and labels, box idle TTL and delete-after-stop
-- (LangSmith fields that were accepted and dropped before).
ALTER TABLE snapshots ADD COLUMN description text NOT NULL DEFAULT '';
ALTER TABLE snapshots ADD COLUMN labels text NOT NULL DEFAULT '{}';
ALTER TABLE sandboxes ADD COLUMN idle_ttl_seconds integer NOT NULL DEFAULT 0;
ALTER TABLE sandboxes ADD COLUMN delete_after_stop_seconds integer NOT NULL DEFAULT 0;
