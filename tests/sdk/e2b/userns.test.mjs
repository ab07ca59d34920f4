// Contract test: a sandbox's root is root only in the sandbox's own user
// namespace, and setuid binaries work in it, as on E2B (issue
// "Unprivileged sandboxes"): `sudo` for "user" in an image whose sudoers
// lets it (E2B's base template does), through the official E2B SDK.
// Environment as in lifecycle.test.mjs, plus TEST_SUDO_IMAGE.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Sandbox } from "e2b";
import { env, api, runId, template as templateFrom } from "./support.mjs";

const { TEST_SUDO_IMAGE } = env("TEST_SUDO_IMAGE");

let template, sbx;
before(async () => {
  template = await templateFrom(`sudo-${runId}`, TEST_SUDO_IMAGE);
  sbx = await Sandbox.create(template, { timeoutMs: 300_000 });
});
after(async () => {
  if (sbx) await sbx.kill().catch(() => {});
  if (template) await api("DELETE", `/api/v2/sandboxes/snapshots/${template}`);
});

test("sudo: user runs a command as root with scoped env vars", async () => {
  // E2B's own "bash command scoped env vars" test does `sudo` like this.
  const r = await sbx.commands.run('echo "$FOO"; sudo -n id -u; sudo -n --preserve-env=FOO sh -c \'echo "$FOO"\'', {
    envs: { FOO: "bar" },
  });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout, "bar\n0\nbar\n");
});

test("files written by the API as root and as user have the owners the sandbox sees", async () => {
  await sbx.files.write("/tmp/by-user.txt", "u");
  await sbx.files.write("/root/by-root.txt", "r", { user: "root" });
  const r = await sbx.commands.run("stat -c '%U:%G' /tmp/by-user.txt /root/by-root.txt", { user: "root" });
  assert.equal(r.stdout, "user:user\nroot:root\n");
  const info = await sbx.files.getInfo("/root/by-root.txt", { user: "root" });
  assert.equal(info.owner, "root");
});

test("root in the sandbox is not root on the host", async () => {
  const r = await sbx.commands.run("cat /proc/self/uid_map", { user: "root" });
  const [inside, host, size] = r.stdout.trim().split(/\s+/).map(Number);
  assert.equal(inside, 0);
  assert.ok(host > 0 && size === 65536, `uid_map: ${r.stdout}`);
});
