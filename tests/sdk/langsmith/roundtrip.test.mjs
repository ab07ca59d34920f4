// Contract test: the whole LangSmith round trip through the official SDK: a
// box from an image snapshot, a file written and a command that changes the
// filesystem, a snapshot captured from the box, a second box from it that
// sees both changes, then list, delete, and both boxes deleted.
// Environment as in snapshots.test.mjs (tests/sdk/run.sh).
import { test } from "node:test";
import assert from "node:assert/strict";
import { SandboxClient, LangSmithResourceNotFoundError } from "langsmith/sandbox";

const { SNAPGATE_URL, SNAPGATE_API_KEY, TEST_IMAGE } = process.env;
for (const [k, v] of Object.entries({ SNAPGATE_URL, SNAPGATE_API_KEY, TEST_IMAGE })) {
  if (!v) throw new Error(`${k} must be set (run through tests/sdk/run.sh)`);
}
const client = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_API_KEY });
const unique = (p) => `${p}-${process.pid}-${Math.floor(Math.random() * 1e9)}`;

test("LangSmith round trip: write, run, capture, restore, read back, delete", async () => {
  const image = await client.createSnapshot(unique("rt-img"), TEST_IMAGE, 1 << 30, { timeout: 120 });
  const first = await client.createSandbox(image.id, { name: unique("rt-a") });
  let second;
  let cap;
  try {
    const bytes = new Uint8Array(300 * 1024).map((_, i) => (i * 13) % 253);
    await first.write("/srv/data/blob.bin", bytes);
    const made = await first.run("echo built-by-command > /srv/out.txt && rm /etc/hostname && echo done");
    assert.deepEqual(made, { stdout: "done\n", stderr: "", exit_code: 0 });

    cap = await first.captureSnapshot(unique("rt-ls"), { timeout: 60 });
    assert.equal(cap.status, "ready");
    assert.equal((await first.run("cat /srv/out.txt")).stdout, "built-by-command\n");

    second = await client.createSandbox(cap.id, { name: unique("rt-b") });
    assert.deepEqual(new Uint8Array(await second.read("/srv/data/blob.bin")), bytes);
    const seen = await second.run("cat /srv/out.txt; test -e /etc/hostname && echo still-there || echo deleted");
    assert.equal(seen.stdout, "built-by-command\ndeleted\n");

    assert.ok((await client.listSnapshots()).some((s) => s.id === cap.id));
    await second.delete();
    second = undefined;
    await client.deleteSnapshot(cap.id);
    await assert.rejects(client.getSnapshot(cap.id), LangSmithResourceNotFoundError);
    cap = undefined;
  } finally {
    await second?.delete().catch(() => {});
    await first.delete().catch(() => {});
    if (cap) await client.deleteSnapshot(cap.id).catch(() => {});
    await client.deleteSnapshot(image.id).catch(() => {});
  }
  // The deleted box's dataplane is gone: 404 (over the WebSocket the SDK
  // reports a rejected upgrade as a connection error that names the 404).
  await assert.rejects(first.run("true"), (err) => err instanceof LangSmithResourceNotFoundError || /404/.test(err.message));
});
