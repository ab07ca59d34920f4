// Contract test: what an E2B sandbox can reach of the machine it runs on,
// through the official E2B SDK (issue "Seal the sandbox boundary"): its
// template's disk bounds what it writes, and the SDK's file calls never
// open a FIFO or device node the sandbox made. Environment as in
// lifecycle.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Sandbox, CommandExitError } from "e2b";
import { env, api, runId, template as templateFrom } from "./support.mjs";

const { TEST_IMAGE } = env("TEST_IMAGE");

// E2B runs commands as "user"; writing at / and mknod need root.
const root = { user: "root" };
const MiB = 1 << 20;

let template, sbx;
before(async () => {
  // A 64 MiB template, built through LangSmith's API (one snapshot
  // namespace serves both vendors).
  template = await templateFrom(`disk-${runId}`, TEST_IMAGE, { fs_capacity_bytes: 64 * MiB });
  sbx = await Sandbox.create(template, { timeoutMs: 300_000 });
});
after(async () => {
  if (sbx) await sbx.kill().catch(() => {});
  if (template) await api("DELETE", `/api/v2/sandboxes/snapshots/${template}`);
});

test("disk: the template's disk bounds what a sandbox writes, and df shows it", async () => {
  const df = await sbx.commands.run("df -k / | tail -n 1", root);
  const kib = Number(df.stdout.trim().split(/\s+/)[1]);
  assert.ok(kib * 1024 <= 64 * MiB && kib * 1024 >= 32 * MiB, `df reports ${kib} KiB: ${df.stdout}`);
  await assert.rejects(sbx.commands.run("dd if=/dev/zero of=/big bs=1M count=200", root), (err) => {
    assert.ok(err instanceof CommandExitError, String(err));
    assert.match(err.stderr, /No space left/);
    return true;
  });
  // Files written through envd count against the same disk.
  await assert.rejects(sbx.files.write("/big2", new Uint8Array(96 * MiB), root));
  const r = await sbx.commands.run("rm -f /big /big2 && echo fine > /f && cat /f", root);
  assert.equal(r.stdout, "fine\n");
  const info = await sbx.getInfo();
  assert.ok(info, "getInfo answers");
});

test("files: a FIFO the sandbox made or a device node its image brought is refused, never opened", async () => {
  // In its user namespace the sandbox cannot make a device node; the test
  // image brings /zero (c 1 5).
  await sbx.commands.run("mkfifo /pipe && test -c /zero && ! mknod /made c 1 5 2>/dev/null", root);
  for (const [path, what] of [["/pipe", /named pipe/], ["/zero", /device/]]) {
    await assert.rejects(sbx.files.read(path, root), (err) => {
      assert.match(String(err.message), what);
      return true;
    });
    await assert.rejects(sbx.files.write(path, "x", root), (err) => {
      assert.match(String(err.message), what);
      return true;
    });
  }
  const still = await sbx.commands.run("test -p /pipe && test -c /zero && echo same", root);
  assert.equal(still.stdout, "same\n");
});
