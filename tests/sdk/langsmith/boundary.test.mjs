// Contract test: what a box can reach of the machine it runs on, through
// the official LangSmith SDK (issue "Seal the sandbox boundary"): its disk
// is bounded by fs_capacity_bytes, and the dataplane never opens a FIFO or
// device node the box made. Environment as in snapshots.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { SandboxClient } from "langsmith/sandbox";
import { SNAPGATE_URL, SNAPGATE_API_KEY, unique } from "./dataplane_cases.mjs";

const { TEST_IMAGE } = process.env;
if (!TEST_IMAGE) throw new Error("TEST_IMAGE must be set (run through tests/sdk/run.sh)");
const client = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_API_KEY });
const MiB = 1 << 20;

let snap, box;
before(async () => {
  snap = await client.createSnapshot(unique("disk"), TEST_IMAGE, 32 * MiB, { timeout: 120 });
  box = await client.createSandbox(snap.id, { name: unique("disk"), fsCapacityBytes: 64 * MiB });
});
after(async () => {
  await box?.delete().catch(() => {});
  if (snap) await client.deleteSnapshot(snap.id).catch(() => {});
});

test("disk: fs_capacity_bytes bounds what a box can write, and df shows it", async () => {
  assert.equal(box.fs_capacity_bytes, 64 * MiB);
  const df = await box.run("df -k / | tail -n 1");
  const kib = Number(df.stdout.trim().split(/\s+/)[1]);
  assert.ok(kib * 1024 <= 64 * MiB && kib * 1024 >= 32 * MiB, `df reports ${kib} KiB: ${df.stdout}`);
  const r = await box.run("dd if=/dev/zero of=/big bs=1M count=200");
  assert.notEqual(r.exit_code, 0, "writing 200 MiB on a 64 MiB disk succeeded");
  assert.match(r.stderr, /No space left/);
  const after = await box.run("rm /big && echo fine > /f && cat /f");
  assert.equal(after.stdout, "fine\n");
});

test("disk: a box cannot have less disk than its snapshot", async () => {
  await assert.rejects(client.createSandbox(snap.id, { name: unique("small"), fsCapacityBytes: 16 * MiB }), (err) => {
    assert.match(String(err.message), /fs_capacity_bytes/);
    return true;
  });
});

test("files: a FIFO the box made or a device node its image brought is refused, never opened", async () => {
  // In its user namespace the box cannot make a device node; the test
  // image brings /zero (c 1 5).
  const made = await box.run("mkfifo /pipe && test -c /zero && ! mknod /made c 1 5 2>/dev/null && echo ok");
  assert.equal(made.stdout, "ok\n", made.stderr);
  for (const [path, what] of [["/pipe", /named pipe/], ["/zero", /device/]]) {
    await assert.rejects(box.read(path, 20), (err) => {
      assert.match(String(err.message), what);
      return true;
    });
    await assert.rejects(box.write(path, "x", 20), (err) => {
      assert.match(String(err.message), what);
      return true;
    });
  }
  const still = await box.run("test -p /pipe && test -c /zero && echo same");
  assert.equal(still.stdout, "same\n");
});
