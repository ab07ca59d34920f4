// Contract test: LangSmith boxes (sandboxes) through the official SDK,
// against a running snapgate (see snapshots.test.mjs for the environment).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  SandboxClient,
  LangSmithResourceNotFoundError,
  LangSmithSandboxCreationError,
  LangSmithSandboxError,
} from "langsmith/sandbox";

const { SNAPGATE_URL, SNAPGATE_API_KEY, SNAPGATE_OTHER_KEY, TEST_IMAGE } = process.env;
const client = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_API_KEY });
const other = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_OTHER_KEY });
const unique = (p) => `${p}-${process.pid}-${Math.floor(Math.random() * 1e9)}`;

test("boxes: create -> get -> list -> update -> stop/start -> capture -> delete", async () => {
  const snap = await client.createSnapshot(unique("box-src"), TEST_IMAGE, 1 << 30, { timeout: 120 });
  const name = unique("box");
  const box = await client.createSandbox(snap.id, { name, labels: { team: "qa" }, vCpus: 1 });
  try {
    assert.equal(box.name, name);
    assert.equal(box.status, "ready");
    assert.match(box.dataplane_url, /^http:\/\/127\.0\.0\.1:\d+\/dataplane\/i[a-z0-9]{20}$/);
    assert.equal(box.snapshot_id, snap.id);

    const got = await client.getSandbox(name);
    assert.equal(got.id, box.id);
    assert.deepEqual(got.labels, { team: "qa" });
    assert.ok((await client.listSandboxes()).some((b) => b.name === name));
    assert.equal((await client.getSandboxStatus(name)).status, "ready");

    // Another tenant sees nothing.
    await assert.rejects(other.getSandbox(name), LangSmithResourceNotFoundError);
    assert.ok(!(await other.listSandboxes()).some((b) => b.name === name));

    const renamed = unique("box-renamed");
    const updated = await client.updateSandbox(name, renamed);
    assert.equal(updated.name, renamed);
    await assert.rejects(client.getSandbox(name), LangSmithResourceNotFoundError);
    const sb = await client.getSandbox(renamed);

    await sb.stop();
    assert.equal((await client.getSandboxStatus(renamed)).status, "stopped");
    await sb.start({ timeout: 30 });
    assert.equal(sb.status, "ready");

    const capName = unique("box-cap");
    const cap = await sb.captureSnapshot(capName, { timeout: 60 });
    assert.equal(cap.status, "ready");
    assert.equal(cap.name, capName);
    assert.equal(cap.source_sandbox_id, box.id);
    assert.equal(cap.memory_snapshot_size_bytes, undefined);

    // A box from the captured snapshot, by name.
    const child = await client.createSandbox({ snapshotName: capName });
    assert.equal(child.snapshot_id, cap.id);
    await child.delete();
    await client.deleteSnapshot(cap.id);

    await sb.delete();
    await assert.rejects(client.getSandbox(renamed), LangSmithResourceNotFoundError);
    await assert.rejects(client.deleteSandbox(renamed), LangSmithResourceNotFoundError);
  } finally {
    await client.deleteSandbox(box.name).catch(() => {});
    await client.deleteSnapshot(snap.id).catch(() => {});
  }
});

test("boxes: the default snapshot serves a box when none is named", async () => {
  const box = await client.createSandbox();
  try {
    assert.equal(box.status, "ready");
    const base = await client.getSnapshot("base");
    assert.equal(box.snapshot_id, base.id);
  } finally {
    await box.delete();
  }
});

test("boxes: unusable snapshots and bad input are refused with SDK errors", async () => {
  await assert.rejects(client.createSandbox({ snapshotName: unique("nope") }), LangSmithResourceNotFoundError);
  await assert.rejects(client.createSandbox({ snapshotName: "x", name: "Bad Name" }), (err) => {
    assert.ok(err instanceof LangSmithSandboxError, `got ${err}`);
    assert.match(err.message, /name/);
    return true;
  });
  const failed = await client
    .createSnapshot(unique("box-broken"), TEST_IMAGE.replace(/:[^:/]+$/, ":missing"), 1 << 30, { timeout: 60 })
    .catch((e) => e);
  assert.ok(failed instanceof Error);
  const broken = (await client.listSnapshots({ nameContains: "box-broken", limit: 500 })).find((s) => s.status === "failed");
  await assert.rejects(client.createSandbox(broken.id), (err) => {
    assert.ok(err instanceof LangSmithSandboxCreationError, `got ${err}`);
    assert.match(err.message, /failed to build/);
    return true;
  });
  await client.deleteSnapshot(broken.id);
});

// Stainless's boxes.list (the client the SDK builds for registries) sends
// label (repeated), status, sort_by and sort_order; an unknown value is a
// 422 naming the parameter.
test("boxes: Stainless list filters by label and status and sorts", async () => {
  void client.registries;
  const boxes = client._registriesClient.sandboxes.boxes;
  const tag = unique("lst");
  const names = [`${tag}-a`, `${tag}-b`, `${tag}-c`];
  const made = [];
  try {
    made.push(await client.createSandbox({ name: names[0], labels: { run: tag, team: "ml" }, idleTtlSeconds: 600 }));
    made.push(await client.createSandbox({ name: names[1], labels: { run: tag, team: "ml", env: "prod" }, idleTtlSeconds: 60 }));
    made.push(await client.createSandbox({ name: names[2], labels: { run: tag, team: "web" }, idleTtlSeconds: 300 }));
    await made[2].stop();
    const list = async (query) => {
      const out = [];
      for await (const b of boxes.list({ label: [`run=${tag}`], ...query })) out.push(b.name);
      return out;
    };
    assert.deepEqual(await list({ label: [`run=${tag}`, "team=ml"], sort_by: "name", sort_order: "asc" }), [names[0], names[1]]);
    assert.deepEqual(await list({ label: [`run=${tag}`, "env"] }), [names[1]]);
    assert.deepEqual(await list({ status: "stopped" }), [names[2]]);
    assert.deepEqual(await list({ status: "ready", sort_order: "asc" }), [names[0], names[1]]);
    assert.deepEqual(await list({ status: "failed" }), []);
    assert.deepEqual(await list({ sort_by: "idle_ttl_seconds", sort_order: "asc" }), [names[1], names[2], names[0]]);
    assert.deepEqual(await list({ sort_by: "name", sort_order: "desc" }), [...names].reverse());
    for (const [param, query] of [["status", { status: "running" }], ["sort_by", { sort_by: "size" }], ["sort_order", { sort_order: "up" }]]) {
      await assert.rejects(list(query), (err) => {
        assert.equal(err.status, 422, `${param}: ${err}`);
        assert.match(err.message, new RegExp(param));
        return true;
      });
    }
  } finally {
    for (const b of made) await b.delete().catch(() => {});
  }
});

// updateSandbox's retention fields take effect: the PATCH answer and a
// later getSandbox show them (core's tests cover the stop and delete they
// schedule; the SDK only accepts multiples of 60 s, too long to wait here).
test("boxes: updateSandbox sets idle TTL and delete-after-stop, as getSandbox shows", async () => {
  const box = await client.createSandbox({ name: unique("ttl"), idleTtlSeconds: 600 });
  try {
    assert.equal(box.idle_ttl_seconds, 600);
    const updated = await client.updateSandbox(box.name, { idleTtlSeconds: 120, deleteAfterStopSeconds: 3600 });
    assert.equal(updated.idle_ttl_seconds, 120);
    assert.equal(updated.delete_after_stop_seconds, 3600);
    const got = await client.getSandbox(box.name);
    assert.equal(got.idle_ttl_seconds, 120);
    assert.equal(got.delete_after_stop_seconds, 3600);
    assert.equal(got.status, "ready");
    await client.updateSandbox(box.name, { idleTtlSeconds: 0 });
    assert.equal((await client.getSandbox(box.name)).idle_ttl_seconds, 0);
  } finally {
    await box.delete().catch(() => {});
  }
});
