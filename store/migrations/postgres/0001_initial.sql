-- Schema version 1: the tables, columns and indexes gorm's AutoMigrate made
-- before migrations were versioned, unchanged.
--
-- IF NOT EXISTS because a database made by AutoMigrate runs this file too,
-- once its missing columns are added (see legacy.go): it gains the tables
-- and indexes it lacks and keeps the ones it has.

CREATE TABLE IF NOT EXISTS snapshots (
    id text NOT NULL,
    tenant_id text NOT NULL,
    name text NOT NULL,
    -- NULL for an untagged snapshot: NULLs never collide in the unique
    -- index, so any number of rows of a name may be untagged.
    tag text,
    status text NOT NULL,
    status_message text NOT NULL,
    docker_image text NOT NULL,
    registry_id text NOT NULL,
    image_ref text NOT NULL,
    image_digest text NOT NULL,
    registry_ref text NOT NULL DEFAULT '',
    fs_capacity_bytes bigint NOT NULL,
    fs_used_bytes bigint NOT NULL,
    memory_snapshot_size_bytes bigint,
    source_sandbox_id text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    claim_owner text NOT NULL,
    claim_expires timestamptz,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_snapshots_status ON snapshots (status);
CREATE UNIQUE INDEX IF NOT EXISTS idx_snapshots_tenant_name_tag ON snapshots (tenant_id, name, tag);

CREATE TABLE IF NOT EXISTS api_keys (
    id text NOT NULL,
    tenant_id text NOT NULL,
    hash text NOT NULL,
    prefix text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_api_keys_hash ON api_keys (hash);
CREATE INDEX IF NOT EXISTS idx_api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE IF NOT EXISTS registries (
    id text NOT NULL,
    tenant_id text NOT NULL,
    name text NOT NULL,
    url text NOT NULL,
    username text NOT NULL,
    password text NOT NULL,
    auth_type text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_registries_tenant_name ON registries (tenant_id, name);

-- live_name is name while the sandbox is live and NULL otherwise, so the
-- unique index makes names unique among a tenant's live sandboxes only.
CREATE TABLE IF NOT EXISTS sandboxes (
    id text NOT NULL,
    tenant_id text NOT NULL,
    name text NOT NULL,
    live_name text,
    snapshot_id text NOT NULL,
    template_ref text NOT NULL,
    state text NOT NULL,
    status_message text NOT NULL,
    vcpus bigint NOT NULL,
    memory_bytes bigint NOT NULL,
    disk_bytes bigint NOT NULL,
    env text NOT NULL,
    metadata text NOT NULL,
    on_timeout text NOT NULL,
    deadline timestamptz,
    access_token text NOT NULL,
    node text NOT NULL,
    started_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_sandboxes_node_state ON sandboxes (node, state);
CREATE INDEX IF NOT EXISTS idx_sandboxes_snapshot ON sandboxes (snapshot_id);
CREATE INDEX IF NOT EXISTS idx_sandboxes_tenant_created ON sandboxes (tenant_id, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS idx_sandboxes_tenant_live_name ON sandboxes (tenant_id, live_name);

CREATE TABLE IF NOT EXISTS nodes (
    name text NOT NULL,
    address text NOT NULL,
    vcpus bigint NOT NULL,
    memory_bytes bigint NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    PRIMARY KEY (name)
);
