-- Shared ports of sandboxes (LangSmith service URLs): one grant per port
-- of a sandbox. A token opens only while its grant row exists, so deleting
-- the row revokes every token minted from it.
CREATE TABLE service_grants (
    id text NOT NULL,
    tenant_id text NOT NULL,
    sandbox_id text NOT NULL,
    port integer NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX idx_service_grants_sandbox_port ON service_grants (sandbox_id, port);
