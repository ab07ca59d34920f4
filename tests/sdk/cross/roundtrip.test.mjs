// Contract test: the dataplane round trip across vendors: files and
// commands through one vendor's SDK, captured through it, restored and read
// back through the other's, both ways. Environment as in cross.test.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Sandbox } from "e2b";
import { SandboxClient } from "langsmith/sandbox";

const { SNAPGATE_URL, SNAPGATE_API_KEY, TEST_IMAGE } = process.env;
process.env.E2B_API_URL = SNAPGATE_URL;
process.env.E2B_SANDBOX_URL = SNAPGATE_URL;
process.env.E2B_API_KEY = SNAPGATE_API_KEY;
const ls = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_API_KEY });
const unique = (p) => `${p}-${process.pid}-${Math.floor(Math.random() * 1e9)}`;

test("captured through E2B, restored through LangSmith; and back", async () => {
  const image = await ls.createSnapshot(unique("xr-img"), TEST_IMAGE, 1 << 30, { timeout: 120 });
  const cleanup = [];
  try {
    // E2B writes and runs, then captures.
    const sbx = await Sandbox.create(image.name, { timeoutMs: 120_000 });
    cleanup.push(() => sbx.kill());
    await sbx.files.write("/home/user/from-e2b.txt", "written through e2b\n");
    const r = await sbx.commands.run("echo ran-in-e2b > /tmp/e2b-marker && rm /etc/hostname", { user: "root" });
    assert.equal(r.exitCode, 0, r.stderr);
    const e2bName = unique("xr-e2b");
    await sbx.createSnapshot({ name: e2bName });
    cleanup.push(() => ls.deleteSnapshot(e2bName));

    // LangSmith restores it and sees both changes.
    const box = await ls.createSandbox(e2bName, { name: unique("xr-box") });
    cleanup.push(() => box.delete());
    assert.equal(new TextDecoder().decode(await box.read("/home/user/from-e2b.txt")), "written through e2b\n");
    const seen = await box.run("cat /tmp/e2b-marker; test -e /etc/hostname && echo still-there || echo deleted");
    assert.equal(seen.stdout, "ran-in-e2b\ndeleted\n");

    // LangSmith changes more and captures; E2B restores that.
    await box.write("/srv/from-langsmith.txt", "written through langsmith\n");
    assert.equal((await box.run("echo ran-in-langsmith >> /tmp/e2b-marker")).exit_code, 0);
    const lsName = unique("xr-ls");
    const cap = await box.captureSnapshot(lsName, { timeout: 60 });
    cleanup.push(() => ls.deleteSnapshot(cap.id));
    const back = await Sandbox.create(lsName, { timeoutMs: 120_000 });
    cleanup.push(() => back.kill());
    assert.equal(await back.files.read("/srv/from-langsmith.txt"), "written through langsmith\n");
    assert.equal(await back.files.read("/home/user/from-e2b.txt"), "written through e2b\n");
    assert.equal((await back.commands.run("cat /tmp/e2b-marker")).stdout, "ran-in-e2b\nran-in-langsmith\n");
    assert.equal(await back.files.exists("/etc/hostname"), false);
  } finally {
    for (const c of cleanup.reverse()) await c().catch(() => {});
    await ls.deleteSnapshot(image.id).catch(() => {});
  }
});
