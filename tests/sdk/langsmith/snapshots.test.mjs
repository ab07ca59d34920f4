// Contract test: the official LangSmith SDK (npm `langsmith`, pinned in
// package.json) drives a running snapgate. tests/sdk/run.sh starts snapgate,
// its containerd and a local registry, then runs this file with:
//   SNAPGATE_URL       base URL of snapgate (no path)
//   SNAPGATE_API_KEY   a key of tenant A
//   SNAPGATE_OTHER_KEY a key of tenant B
//   TEST_IMAGE         an image reference in the local registry
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  SandboxClient,
  LangSmithResourceNotFoundError,
  LangSmithSandboxAuthenticationError,
  LangSmithValidationError,
  LangSmithResourceCreationError,
  LangSmithSandboxError,
} from "langsmith/sandbox";

const { SNAPGATE_URL, SNAPGATE_API_KEY, SNAPGATE_OTHER_KEY, TEST_IMAGE } = process.env;
for (const [k, v] of Object.entries({ SNAPGATE_URL, SNAPGATE_API_KEY, SNAPGATE_OTHER_KEY, TEST_IMAGE })) {
  if (!v) throw new Error(`${k} must be set (run through tests/sdk/run.sh)`);
}

// The way users configure the SDK: LANGSMITH_ENDPOINT + LANGSMITH_API_KEY.
process.env.LANGSMITH_ENDPOINT = SNAPGATE_URL;
process.env.LANGSMITH_API_KEY = SNAPGATE_API_KEY;
const client = new SandboxClient();
const other = new SandboxClient({ apiKey: SNAPGATE_OTHER_KEY });
// Older JS and the Python SDK use /v2/sandboxes without /api.
const legacy = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/v2/sandboxes`, apiKey: SNAPGATE_API_KEY });

const unique = (p) => `${p}-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
const GiB = 1 << 30;

test("create -> ready -> get -> list -> delete", async () => {
  const name = unique("sdk-busybox");
  const snap = await client.createSnapshot(name, TEST_IMAGE, GiB, { timeout: 120 });
  assert.equal(snap.status, "ready");
  assert.equal(snap.name, name);
  assert.match(snap.image_digest, /^sha256:[0-9a-f]{64}$/);
  assert.ok(snap.fs_used_bytes > 1_000_000, `fs_used_bytes ${snap.fs_used_bytes} should cover busybox`);
  assert.equal(snap.fs_capacity_bytes, GiB);
  assert.equal(snap.memory_snapshot_size_bytes, undefined);

  const got = await client.getSnapshot(snap.id);
  assert.deepEqual(got, snap);
  const byName = await legacy.getSnapshot(name);
  assert.equal(byName.id, snap.id);

  const listed = await client.listSnapshots({ nameContains: name.toUpperCase(), limit: 10, offset: 0 });
  assert.deepEqual(listed.map((s) => s.id), [snap.id]);
  assert.deepEqual(await client.listSnapshots({ nameContains: name, offset: 1 }), []);

  await client.deleteSnapshot(snap.id);
  await assert.rejects(client.getSnapshot(snap.id), LangSmithResourceNotFoundError);
  await assert.rejects(client.deleteSnapshot(snap.id), LangSmithResourceNotFoundError);
});

test("names are unique per tenant", async () => {
  const name = unique("sdk-dup");
  const snap = await client.createSnapshot(name, TEST_IMAGE, GiB, { timeout: 120 });
  await assert.rejects(client.createSnapshot(name, TEST_IMAGE, GiB), (err) => {
    assert.ok(err instanceof LangSmithSandboxError, `got ${err}`);
    assert.match(err.message, /already exists/);
    return true;
  });
  // Another tenant may use the same name.
  const theirs = await other.createSnapshot(name, TEST_IMAGE, GiB, { timeout: 120 });
  assert.notEqual(theirs.id, snap.id);
  await other.deleteSnapshot(theirs.id);
  await client.deleteSnapshot(snap.id);
});

test("tenants never see each other's snapshots", async () => {
  const snap = await client.createSnapshot(unique("sdk-mine"), TEST_IMAGE, GiB, { timeout: 120 });
  await assert.rejects(other.getSnapshot(snap.id), LangSmithResourceNotFoundError);
  await assert.rejects(other.deleteSnapshot(snap.id), LangSmithResourceNotFoundError);
  const theirs = await other.listSnapshots({ limit: 500 });
  assert.ok(!theirs.some((s) => s.id === snap.id));
  assert.equal((await client.getSnapshot(snap.id)).status, "ready");
  await client.deleteSnapshot(snap.id);
});

test("bad requests name the bad field", async () => {
  await assert.rejects(client.createSnapshot("Not A Valid Name", TEST_IMAGE, GiB), (err) => {
    assert.ok(err instanceof LangSmithValidationError, `got ${err?.constructor?.name}: ${err}`);
    assert.match(err.message, /name/);
    return true;
  });
  await assert.rejects(client.createSnapshot(unique("sdk-neg"), TEST_IMAGE, -5), (err) => {
    assert.ok(err instanceof LangSmithValidationError, `got ${err}`);
    assert.match(err.message, /fs_capacity_bytes/);
    return true;
  });
  await assert.rejects(client.createSnapshot(unique("sdk-ref"), "UPPER CASE:::", GiB), (err) => {
    assert.ok(err instanceof LangSmithValidationError, `got ${err}`);
    assert.match(err.message, /docker_image/);
    return true;
  });
  await assert.rejects(client.listSnapshots({ limit: 501 }), (err) => {
    assert.ok(err instanceof LangSmithValidationError, `got ${err}`);
    assert.match(err.message, /limit/);
    return true;
  });
});

test("bad or missing keys are refused", async () => {
  const wrong = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: "e2b_" + "0".repeat(40) });
  await assert.rejects(wrong.listSnapshots(), LangSmithSandboxAuthenticationError);
  const none = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: "" });
  await assert.rejects(none.listSnapshots(), LangSmithSandboxAuthenticationError);
});

test("a build that cannot succeed ends failed with a reason", async () => {
  const missing = TEST_IMAGE.replace(/:[^:/]+$/, ":no-such-tag");
  await assert.rejects(client.createSnapshot(unique("sdk-missing"), missing, GiB, { timeout: 120 }), (err) => {
    assert.ok(err instanceof LangSmithResourceCreationError, `got ${err}`);
    assert.match(err.message, /not found/);
    return true;
  });
  await assert.rejects(client.createSnapshot(unique("sdk-small"), TEST_IMAGE, 1024, { timeout: 120 }), (err) => {
    assert.ok(err instanceof LangSmithResourceCreationError, `got ${err}`);
    assert.match(err.message, /fs_capacity_bytes/);
    return true;
  });
});

test("registries: create, list, retrieve, update, delete (Stainless client)", async () => {
  const name = unique("sdk-reg");
  const created = await client.registries.create({ name, url: "registry.example.com", username: "robot", password: "s3cret" });
  assert.equal(created.name, name);
  assert.equal(created.password, undefined);
  const got = await client.registries.retrieve(name);
  assert.equal(got.id, created.id);
  const updated = await client.registries.update(name, { username: "robot2" });
  assert.equal(updated.username, "robot2");
  const page = await client.registries.list({ name_contains: name });
  assert.deepEqual(page.items.map((r) => r.id), [created.id]);
  await assert.rejects(other.registries.retrieve(name));
  await client.registries.delete(name);
  await assert.rejects(client.registries.retrieve(name));
});
