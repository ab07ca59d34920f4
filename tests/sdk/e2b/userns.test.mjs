// Contract test: a sandbox's root is root only in the sandbox's own user
// namespace, and setuid binaries work in it, as on E2B (issue
// "Unprivileged sandboxes"): `sudo` for "user" in an image whose sudoers
// lets it (E2B's base template does), through the official E2B SDK.
// Environment as in lifecycle.test.mjs, plus TEST_SUDO_IMAGE.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Sandbox } from "e2b";

const { SNAPGATE_URL, SNAPGATE_API_KEY, TEST_SUDO_IMAGE } = process.env;
for (const [k, v] of Object.entries({ SNAPGATE_URL, SNAPGATE_API_KEY, TEST_SUDO_IMAGE })) {
  if (!v) throw new Error(`${k} must be set (run through tests/sdk/run.sh)`);
}
process.env.E2B_API_URL = SNAPGATE_URL;
process.env.E2B_SANDBOX_URL = SNAPGATE_URL;
process.env.E2B_API_KEY = SNAPGATE_API_KEY;
delete process.env.E2B_DEBUG;
delete process.env.E2B_DOMAIN;

const run = `${process.pid}-${Math.floor(Math.random() * 1e9)}`;

async function api(method, path, body) {
  const res = await fetch(SNAPGATE_URL + path, {
    method,
    headers: { "X-Api-Key": SNAPGATE_API_KEY, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

let template, sbx;
before(async () => {
  const created = await api("POST", "/api/v2/sandboxes/snapshots", { name: `sudo-${run}`, docker_image: TEST_SUDO_IMAGE, fs_capacity_bytes: 1 << 30 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  let snap = created.body;
  for (const deadline = Date.now() + 180_000; snap.status === "building" && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 300));
    snap = (await api("GET", `/api/v2/sandboxes/snapshots/${snap.id}`)).body;
  }
  assert.equal(snap.status, "ready", JSON.stringify(snap));
  template = snap.id;
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
