// Contract test: the whole E2B round trip through the official SDK, the way
// an agent uses it: sandbox from an image snapshot, a file written and a
// command that changes the filesystem, a snapshot of the running sandbox, a
// second sandbox from it that sees both changes, then list, delete, kill.
// Environment as in lifecycle.test.mjs (tests/sdk/run.sh).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Sandbox } from "e2b";
import { env } from "./support.mjs";

const { SNAPGATE_URL, SNAPGATE_API_KEY, TEST_IMAGE } = env("TEST_IMAGE");
const unique = (p) => `${p}-${process.pid}-${Math.floor(Math.random() * 1e9)}`;

async function imageSnapshot() {
  const res = await fetch(`${SNAPGATE_URL}/api/v2/sandboxes/snapshots`, {
    method: "POST",
    headers: { "X-Api-Key": SNAPGATE_API_KEY, "Content-Type": "application/json" },
    body: JSON.stringify({ name: unique("rt-img"), docker_image: TEST_IMAGE, fs_capacity_bytes: 1 << 30 }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const snap = await res.json();
  for (let i = 0; i < 600; i++) {
    const got = await (await fetch(`${SNAPGATE_URL}/api/v2/sandboxes/snapshots/${snap.id}`, { headers: { "X-Api-Key": SNAPGATE_API_KEY } })).json();
    if (got.status === "ready") return got;
    if (got.status === "failed") throw new Error(`image snapshot failed: ${got.status_message}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("image snapshot not ready in time");
}

async function collect(paginator) {
  const items = [];
  while (paginator.hasNext) items.push(...(await paginator.nextItems()));
  return items;
}

test("E2B round trip: write, run, snapshot, restore, read back, delete, kill", async () => {
  const image = await imageSnapshot();
  const first = await Sandbox.create(image.id, { timeoutMs: 120_000 });
  let second;
  try {
    const bytes = new Uint8Array(256 * 1024).map((_, i) => (i * 7) % 251);
    await first.files.write("/home/user/notes/data.bin", bytes);
    // As root: it deletes a file of the image, which a capture must keep deleted.
    const made = await first.commands.run("mkdir -p /srv/app && echo built-by-command > /srv/app/out.txt && rm /etc/hostname && echo done", { user: "root" });
    assert.equal(made.exitCode, 0, made.stderr);
    assert.equal(made.stdout, "done\n");

    const name = unique("rt-e2b");
    const snap = await first.createSnapshot({ name });
    // The source keeps running and keeps its files.
    assert.equal((await first.commands.run("cat /srv/app/out.txt")).stdout, "built-by-command\n");

    second = await Sandbox.create(name, { timeoutMs: 120_000 });
    assert.notEqual(second.sandboxId, first.sandboxId);
    assert.deepEqual(await second.files.read("/home/user/notes/data.bin", { format: "bytes" }), bytes);
    const seen = await second.commands.run("cat /srv/app/out.txt; test -e /etc/hostname && echo still-there || echo deleted");
    assert.equal(seen.stdout, "built-by-command\ndeleted\n");

    const listed = await collect(Sandbox.listSnapshots({ sandboxId: first.sandboxId }));
    assert.ok(listed.some((s) => s.snapshotId === snap.snapshotId), JSON.stringify(listed));
    await second.kill();
    second = undefined;
    assert.equal(await Sandbox.deleteSnapshot(snap.snapshotId), true);
    assert.equal((await collect(Sandbox.listSnapshots({ sandboxId: first.sandboxId }))).length, 0);
  } finally {
    await second?.kill().catch(() => {});
    await first.kill().catch(() => {});
  }
  assert.equal(await first.isRunning(), false);
});
