-- A sandbox's network policy (core.NetworkPolicy as JSON): egress allow and
-- deny lists, private ports, the request host mask.
ALTER TABLE sandboxes ADD COLUMN network text NOT NULL DEFAULT '{}';
