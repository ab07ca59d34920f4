// Contract test: the official E2B JS SDK (npm `e2b`, pinned in package.json)
// drives a running snapgate's E2B platform API. tests/sdk/run.sh starts
// snapgate (with SNAPGATE_DEFAULT_IMAGE=$TEST_IMAGE, so the "base" template
// exists), its containerd and a local registry, then runs this file with:
//   SNAPGATE_URL       base URL of snapgate (no path)
//   SNAPGATE_API_KEY   a key of tenant A
//   SNAPGATE_OTHER_KEY a key of tenant B
//   TEST_IMAGE         an image reference in the local registry
// Only the control plane is exercised here; envd (commands, files) is
// covered by dataplane.test.mjs and roundtrip.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  Sandbox,
  SandboxError,
  SandboxNotFoundError,
  AuthenticationError,
} from "e2b";
import { env } from "./support.mjs";

const { SNAPGATE_URL, SNAPGATE_API_KEY, SNAPGATE_OTHER_KEY, TEST_IMAGE } = env("SNAPGATE_OTHER_KEY", "TEST_IMAGE");

const other = { apiKey: SNAPGATE_OTHER_KEY };
const run = `${process.pid}-${Math.floor(Math.random() * 1e9)}`;
const unique = (p) => `${p}-${run}`;
const GiB = 1 << 30;

// api calls snapgate over plain HTTP: LangSmith's API to build an image
// snapshot, and E2B's where the SDK validates client-side.
async function api(method, path, { key = SNAPGATE_API_KEY, body } = {}) {
  const res = await fetch(SNAPGATE_URL + path, {
    method,
    headers: { "X-Api-Key": key, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function collect(paginator) {
  const items = [];
  let pages = 0;
  while (paginator.hasNext) {
    items.push(...(await paginator.nextItems()));
    if (++pages > 50) throw new Error("paginator does not end");
  }
  return { items, pages };
}

// Sandboxes left running by a failed assertion are killed at the end.
const started = new Set();
async function create(template, opts) {
  const sbx = template === undefined ? await Sandbox.create(opts) : await Sandbox.create(template, opts);
  started.add(sbx.sandboxId);
  return sbx;
}

let image; // tenant A's image snapshot: {id, name}

before(async () => {
  const name = unique("e2b-img");
  const created = await api("POST", "/api/v2/sandboxes/snapshots", {
    body: { name, docker_image: TEST_IMAGE, fs_capacity_bytes: GiB },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const deadline = Date.now() + 180_000;
  let snap = created.body;
  while (snap.status === "building" && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    snap = (await api("GET", `/api/v2/sandboxes/snapshots/${snap.id}`)).body;
  }
  assert.equal(snap.status, "ready", `image snapshot: ${JSON.stringify(snap)}`);
  image = { id: snap.id, name };
});

after(async () => {
  for (const id of started) await Sandbox.kill(id).catch(() => {});
  if (image) await api("DELETE", `/api/v2/sandboxes/snapshots/${image.id}`);
});

const near = (date, ms, slack = 15_000) => Math.abs(date.getTime() - (Date.now() + ms)) < slack;

test("create from a snapshot id, a name and base; getInfo", async () => {
  const sbx = await create(image.id, { metadata: { suite: run, kind: "by-id" }, envs: { A: "1" }, timeoutMs: 120_000 });
  assert.match(sbx.sandboxId, /^i[a-z0-9]{20}$/);
  // snapgate must return its own domain: without one the SDK would send
  // envd traffic (and the access token) to e2b.app.
  assert.ok(sbx.sandboxDomain && !sbx.sandboxDomain.endsWith("e2b.app"), `domain ${sbx.sandboxDomain}`);

  const info = await sbx.getInfo();
  assert.equal(info.sandboxId, sbx.sandboxId);
  assert.equal(info.templateId, image.id);
  assert.equal(info.state, "running");
  assert.deepEqual(info.metadata, { suite: run, kind: "by-id" });
  assert.match(info.envdVersion, /^\d+\.\d+\.\d+$/);
  assert.ok(near(info.endAt, 120_000), `endAt ${info.endAt.toISOString()}`);
  assert.ok(Math.abs(info.startedAt.getTime() - Date.now()) < 60_000, `startedAt ${info.startedAt.toISOString()}`);
  assert.deepEqual(info.lifecycle, { onTimeout: "kill", autoResume: false });
  assert.equal(info.sandboxDomain, sbx.sandboxDomain);

  const byName = await create(image.name, { metadata: { suite: run } });
  assert.equal((await byName.getInfo()).templateId, image.name);
  // v2 create defaults to 300 s.
  assert.ok(near((await byName.getInfo()).endAt, 300_000));

  // No template: "base", built from SNAPGATE_DEFAULT_IMAGE on first use.
  let base;
  for (let attempt = 0; !base; attempt++) {
    try {
      base = await create(undefined, { metadata: { suite: run } });
    } catch (err) {
      // The first use may outlast one request while the image is pulled.
      if (!(err instanceof SandboxError && err.statusCode === 409 && /building/.test(err.message)) || attempt > 5) throw err;
    }
  }
  assert.equal((await base.getInfo()).templateId, "base");

  for (const s of [sbx, byName, base]) assert.equal(await s.kill(), true);
});

test("list filters by metadata and pages with limit 1", async () => {
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await create(image.id, { metadata: { suite: run, list: "yes" } })).sandboxId);
  const odd = await create(image.id, { metadata: { suite: run, list: "no & b=c %20" } });

  const { items, pages } = await collect(Sandbox.list({ query: { metadata: { suite: run, list: "yes" } }, limit: 1 }));
  assert.equal(pages, 3);
  assert.deepEqual(items.map((s) => s.sandboxId), [...ids].reverse(), "newest first, one per page");
  for (const s of items) {
    assert.equal(s.state, "running");
    assert.equal(s.templateId, image.id);
    assert.deepEqual(s.metadata, { suite: run, list: "yes" });
    assert.ok(s.cpuCount >= 1 && s.memoryMB > 0, JSON.stringify(s));
  }

  // Reserved characters survive the triple encoding.
  const oddList = await Sandbox.list({ query: { metadata: { list: "no & b=c %20", suite: run } } }).nextItems();
  assert.deepEqual(oddList.map((s) => s.sandboxId), [odd.sandboxId]);

  assert.equal(await Sandbox.pause(ids[0]), true);
  const paused = await collect(Sandbox.list({ query: { state: ["paused"], metadata: { suite: run } } }));
  assert.deepEqual(paused.items.map((s) => s.sandboxId), [ids[0]]);
  assert.equal(paused.items[0].state, "paused");
  const both = await collect(Sandbox.list({ query: { state: ["running", "paused"], metadata: { suite: run, list: "yes" } } }));
  assert.equal(both.items.length, 3);

  for (const id of [...ids, odd.sandboxId]) assert.equal(await Sandbox.kill(id), true);
  assert.deepEqual((await collect(Sandbox.list({ query: { metadata: { suite: run } } }))).items, []);
});

test("list honours order, startedAfter and template", async () => {
  const first = await create(image.id, { metadata: { suite: run, list: "order" } });
  // A Date keeps milliseconds, the server microseconds: 1 ms on is past
  // the first sandbox's start, and 20 ms later the next one starts.
  const since = new Date((await first.getInfo()).startedAt.getTime() + 1);
  await new Promise((r) => setTimeout(r, 20));
  const second = await create(image.name, { metadata: { suite: run, list: "order" } });
  const third = await create(undefined, { metadata: { suite: run, list: "order" } }); // base
  const query = { metadata: { suite: run, list: "order" } };
  const ids = async (opts) => (await collect(Sandbox.list(opts))).items.map((s) => s.sandboxId);

  const oldest = [first.sandboxId, second.sandboxId, third.sandboxId];
  assert.deepEqual(await ids({ query, order: "asc", limit: 2 }), oldest, "order asc, pages of 2");
  assert.deepEqual(await ids({ query, order: "desc" }), [...oldest].reverse());
  assert.deepEqual(await ids({ query: { ...query, startedAfter: since } }), [third.sandboxId, second.sandboxId]);
  // By the template's id or name: the sandbox created by the other form too.
  for (const template of [image.id, image.name]) {
    assert.deepEqual(await ids({ query: { ...query, template }, order: "asc" }), [first.sandboxId, second.sandboxId], template);
  }
  assert.deepEqual(await ids({ query: { ...query, template: "base" } }), [third.sandboxId]);
  assert.deepEqual(await ids({ query: { ...query, template: unique("no-such-template") } }), []);

  for (const s of [first, second, third]) assert.equal(await s.kill(), true);
});

// With mcp the SDK creates from its mcp-gateway template, then runs the
// gateway through envd; snapgate has none, so create fails at once with
// the SDK's SandboxError carrying the 400 and leaves nothing running.
test("create with mcp is a SandboxError 400 naming mcp, and starts nothing", async () => {
  const refused = (e) => {
    assert.ok(e instanceof SandboxError, `got ${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.statusCode, 400);
    assert.match(e.message, /^400: mcp is not supported/);
    return true;
  };
  const metadata = { suite: run, list: "mcp" };
  await assert.rejects(Sandbox.create({ mcp: { exa: { apiKey: "k" } }, metadata }), refused);
  await assert.rejects(Sandbox.create(image.id, { mcp: { exa: { apiKey: "k" } }, metadata }), refused);
  assert.deepEqual((await collect(Sandbox.list({ query: { metadata } }))).items, []);
});

test("setTimeout, pause twice, connect resumes, kill twice", async () => {
  const sbx = await create(image.id, { timeoutMs: 60_000 });
  await sbx.setTimeout(600_000);
  assert.ok(near((await sbx.getInfo()).endAt, 600_000));

  assert.equal(await sbx.pause(), true);
  assert.equal((await sbx.getInfo()).state, "paused");
  assert.equal(await sbx.pause(), false, "already paused");

  const resumed = await Sandbox.connect(sbx.sandboxId, { timeoutMs: 120_000 });
  assert.equal(resumed.sandboxId, sbx.sandboxId);
  assert.equal((await sbx.getInfo()).state, "running");
  await resumed.connect(); // running: 200, only extends the timeout
  assert.equal((await sbx.getInfo()).state, "running");

  assert.equal(await sbx.kill(), true);
  assert.equal(await sbx.kill(), false);
  await assert.rejects(sbx.getInfo(), SandboxNotFoundError);
  await assert.rejects(Sandbox.connect(sbx.sandboxId), SandboxNotFoundError);
  await assert.rejects(sbx.setTimeout(10_000), SandboxNotFoundError);
  await assert.rejects(sbx.pause(), SandboxNotFoundError);
});

// A route snapgate does not serve yet answers 501, never 404: the SDK turns
// a 404 into SandboxNotFoundError for a sandbox that is alive.
test("fork is refused as not served, not as sandbox not found", async () => {
  const sbx = await create(image.id);
  const notServed = (e) => {
    assert.ok(!(e instanceof SandboxNotFoundError), `got SandboxNotFoundError: ${e.message}`);
    assert.doesNotMatch(e.message, /not found/i);
    assert.match(e.message, /POST \/sandboxes\/\{sandboxID\}\/fork is not served by this server yet/);
    return true;
  };
  await assert.rejects(sbx.fork(), notServed);
  await assert.rejects(Sandbox.fork(sbx.sandboxId), notServed);
  assert.equal((await sbx.getInfo()).state, "running");
  // Another tenant's sandbox is not found, as on every route.
  await assert.rejects(Sandbox.fork(sbx.sandboxId, other), SandboxNotFoundError);
  await sbx.kill();
});

test("createSnapshot, listSnapshots, create from it, deleteSnapshot", async () => {
  const sbx = await create(image.id);
  const unnamed = await sbx.createSnapshot();
  assert.match(unnamed.snapshotId, /:default$/);
  assert.deepEqual(unnamed.names, []);

  const name = unique("snap");
  const first = await sbx.createSnapshot({ name });
  assert.match(first.snapshotId, new RegExp(`^[a-z0-9._-]+/${name}:default$`));
  assert.deepEqual(first.names, [first.snapshotId.replace(/:default$/, "")]);
  // The same name again is a new snapshot that holds the tag.
  const second = await sbx.createSnapshot({ name });
  assert.equal(second.snapshotId, first.snapshotId);

  const mine = await collect(sbx.listSnapshots());
  assert.equal(mine.items.length, 3, JSON.stringify(mine.items));
  const ids = mine.items.map((s) => s.snapshotId);
  assert.ok(ids.includes(unnamed.snapshotId) && ids.includes(second.snapshotId), ids.join(" "));
  const paged = await collect(Sandbox.listSnapshots({ sandboxId: sbx.sandboxId, limit: 1 }));
  assert.deepEqual(paged.items.map((s) => s.snapshotId), ids);
  assert.equal(paged.pages, 3);
  assert.equal((await collect(Sandbox.listSnapshots({ name }))).items.length, 2);

  for (const snapshotId of [unnamed.snapshotId, second.snapshotId]) {
    const child = await create(snapshotId);
    assert.equal((await child.getInfo()).templateId, snapshotId);
    assert.equal(await child.kill(), true);
  }

  assert.equal(await Sandbox.deleteSnapshot(unnamed.snapshotId), true);
  assert.equal(await Sandbox.deleteSnapshot(unnamed.snapshotId), false);
  assert.equal(await Sandbox.deleteSnapshot(second.snapshotId), true);
  // The older build of the name lost its tag; it is still listed by id.
  const left = (await collect(sbx.listSnapshots())).items;
  assert.equal(left.length, 1);
  assert.equal(await Sandbox.deleteSnapshot(left[0].snapshotId), true);
  assert.deepEqual((await collect(sbx.listSnapshots())).items, []);
  assert.equal(await sbx.kill(), true);
});

test("another tenant's key sees nothing", async () => {
  const sbx = await create(image.id, { metadata: { suite: run, tenant: "a" } });
  const snap = await sbx.createSnapshot();

  await assert.rejects(Sandbox.getInfo(sbx.sandboxId, other), SandboxNotFoundError);
  assert.equal(await Sandbox.kill(sbx.sandboxId, other), false);
  await assert.rejects(Sandbox.pause(sbx.sandboxId, other), SandboxNotFoundError);
  await assert.rejects(Sandbox.setTimeout(sbx.sandboxId, 10_000, other), SandboxNotFoundError);
  await assert.rejects(Sandbox.connect(sbx.sandboxId, other), SandboxNotFoundError);
  await assert.rejects(Sandbox.createSnapshot(sbx.sandboxId, other), SandboxNotFoundError);
  assert.deepEqual((await collect(Sandbox.list({ ...other, query: { metadata: { suite: run } } }))).items, []);
  const theirs = (await collect(Sandbox.listSnapshots(other))).items.map((s) => s.snapshotId);
  assert.ok(!theirs.includes(snap.snapshotId));
  assert.deepEqual((await collect(Sandbox.listSnapshots({ ...other, sandboxId: sbx.sandboxId }))).items, []);
  assert.equal(await Sandbox.deleteSnapshot(snap.snapshotId, other), false);
  // Creating from A's snapshot is a plain 404 SandboxError for B.
  await assert.rejects(Sandbox.create(snap.snapshotId, other), (err) => {
    assert.ok(err instanceof SandboxError, `got ${err}`);
    assert.equal(err.statusCode, 404);
    return true;
  });

  // Still there for A.
  assert.equal((await sbx.getInfo()).state, "running");
  assert.equal(await Sandbox.deleteSnapshot(snap.snapshotId), true);
  assert.equal(await sbx.kill(), true);
});

test("a bad key is an AuthenticationError", async () => {
  const bad = { apiKey: "e2b_" + "0".repeat(40) };
  await assert.rejects(Sandbox.create(image.id, bad), AuthenticationError);
  await assert.rejects(Sandbox.list(bad).nextItems(), AuthenticationError);
  await assert.rejects(Sandbox.getInfo("i" + "0".repeat(20), bad), AuthenticationError);
  await assert.rejects(Sandbox.listSnapshots(bad).nextItems(), AuthenticationError);
});

test("bad input is a 400 with a message", async () => {
  await assert.rejects(Sandbox.create(image.id, { timeoutMs: -5000 }), (err) => {
    assert.ok(err instanceof SandboxError, `got ${err}`);
    assert.equal(err.statusCode, 400);
    assert.match(err.message, /timeout/);
    return true;
  });
  await assert.rejects(Sandbox.create(image.id, { timeoutMs: 2 * 86_400_000 }), (err) => err.statusCode === 400);
  // The SDK's types forbid it; the raw API must refuse it.
  const raw = await api("POST", "/v2/sandboxes", { body: { templateID: image.id, metadata: { n: 1 } } });
  assert.equal(raw.status, 400);
  assert.equal(raw.body.code, 400);
  assert.match(raw.body.message, /metadata/);
  const noTemplate = await api("POST", "/sandboxes", { body: { timeout: 60 } });
  assert.equal(noTemplate.status, 400);
  assert.match(noTemplate.body.message, /templateID/);
  await assert.rejects(Sandbox.create(unique("no-such-template")), (err) => err instanceof SandboxError && err.statusCode === 404);
});
