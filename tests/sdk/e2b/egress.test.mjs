// Contract test: a sandbox's outbound network under E2B's options,
// through the official E2B SDK. SNAPGATE_TEST_REMOTE is a host the run
// made (tests/sdk/run.sh: a network namespace at a test address serving
// "remote host"); snapgate's default policy lets sandboxes reach it.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Sandbox } from "e2b";
import { env, api, runId, template as templateFrom } from "./support.mjs";

const { SNAPGATE_TEST_REMOTE, TEST_IMAGE } = env("SNAPGATE_TEST_REMOTE", "TEST_IMAGE");
const [remoteHost, remotePort] = SNAPGATE_TEST_REMOTE.split(":");

const sandboxes = [];
let template;
after(async () => {
  await Promise.all(sandboxes.map((s) => s.kill().catch(() => {})));
  if (template) await api("DELETE", `/api/v2/sandboxes/snapshots/${template}`);
});

async function create(opts = {}, from = undefined) {
  const o = { timeoutMs: 120_000, ...opts };
  const sbx = await (from ? Sandbox.create(from, o) : Sandbox.create(o));
  sandboxes.push(sbx);
  return sbx;
}

// fetchRemote asks the remote host for its page from inside sbx (busybox
// nc; 2 s without an answer is "unreachable").
async function fetchRemote(sbx) {
  const r = await sbx.commands.run(
    `printf 'GET / HTTP/1.0\\r\\nHost: ${remoteHost}\\r\\n\\r\\n' | nc -w 2 ${remoteHost} ${remotePort}`,
    { user: "root" },
  ).catch((e) => e.result ?? { exitCode: -1, stdout: String(e) });
  return r.exitCode === 0 && r.stdout.includes("remote host");
}

test("a sandbox reaches the internet by default, with DNS configured", async () => {
  const sbx = await create();
  assert.equal(await fetchRemote(sbx), true);
  const resolv = await sbx.commands.run("cat /etc/resolv.conf");
  assert.match(resolv.stdout, /^nameserver \d+\.\d+\.\d+\.\d+$/m);
  const info = await sbx.getInfo();
  assert.notEqual(info.allowInternetAccess, false);
});

test("allowInternetAccess: false denies all egress", async () => {
  const sbx = await create({ allowInternetAccess: false });
  assert.equal(await fetchRemote(sbx), false);
  assert.equal((await sbx.getInfo()).allowInternetAccess, false);
});

test("network.denyOut covering the host denies it; allowOut wins over denyOut", async () => {
  const denied = await create({ network: { denyOut: [`${remoteHost}/32`] } });
  assert.equal(await fetchRemote(denied), false);
  const allowed = await create({ network: { allowOut: [remoteHost], denyOut: ["0.0.0.0/0"] } });
  assert.equal(await fetchRemote(allowed), true);
});

// fetchNamed asks the remote's port 80 for its page with name as Host.
async function fetchNamed(sbx, name) {
  const r = await sbx.commands.run(
    `printf 'GET / HTTP/1.0\\r\\nHost: ${name}\\r\\n\\r\\n' | nc -w 2 ${remoteHost} 80`,
    { user: "root" },
  ).catch((e) => e.result ?? { exitCode: -1, stdout: String(e) });
  return r.exitCode === 0 && r.stdout.includes("remote host");
}

test("host names in allowOut: web connections naming them pass, others do not", async () => {
  const sbx = await create({ network: { allowOut: ["remote.test", "*.pkgs.test"], denyOut: ["0.0.0.0/0"] } });
  assert.equal(await fetchNamed(sbx, "remote.test"), true);
  assert.equal(await fetchNamed(sbx, "mirror.pkgs.test"), true);
  assert.equal(await fetchNamed(sbx, "other.test"), false);
  assert.equal(await fetchRemote(sbx), false, "another port is judged by address only");
  const info = await sbx.getInfo();
  assert.deepEqual(info.network.allowOut, ["remote.test", "*.pkgs.test"]);
  assert.equal(info.allowInternetAccess, true);
});

test("updateNetwork applies to the running sandbox", async () => {
  const sbx = await create();
  assert.equal(await fetchRemote(sbx), true);
  await sbx.updateNetwork({ denyOut: ["0.0.0.0/0"] });
  assert.equal(await fetchRemote(sbx), false);
  await sbx.updateNetwork({ denyOut: [] });
  assert.equal(await fetchRemote(sbx), true);
});

// viaPort asks port 8000 of sbx for / through snapgate's port proxy
// (E2B_SANDBOX_URL header routing, as getHost's users with it do).
async function viaPort(sbx) {
  const res = await fetch(`${process.env.SNAPGATE_URL}/`, {
    headers: { "E2b-Sandbox-Id": sbx.sandboxId, "E2b-Sandbox-Port": "8000" },
  });
  return { status: res.status, body: await res.text() };
}

async function eventually(check, ms = 15000) {
  for (const deadline = Date.now() + ms; ;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("a snapshot taken while a server runs restores to a sandbox with a fresh address whose server starts and is reached", async () => {
  template = await templateFrom(`egress-${runId}`, TEST_IMAGE);
  const parent = await create({}, template);
  await parent.commands.run(`mkdir -p /tmp/srv && echo served-${runId} > /tmp/srv/index.html`);
  await parent.commands.run("httpd -f -p 8000 -h /tmp/srv", { background: true });
  await eventually(async () => (await viaPort(parent)).status === 200);
  const snap = await parent.createSnapshot();
  assert.equal((await viaPort(parent)).body, `served-${runId}\n`, "the parent serves on after the capture");
  const child = await create({}, snap.snapshotId);
  const addr = async (s) => (await s.commands.run("tail -n 1 /etc/hosts")).stdout.split(/\s+/)[0];
  assert.notEqual(await addr(child), await addr(parent));
  // Processes are not part of a filesystem snapshot: the server is
  // started again from the restored files.
  assert.equal((await viaPort(child)).status, 502);
  await child.commands.run("httpd -f -p 8000 -h /tmp/srv", { background: true });
  await eventually(async () => (await viaPort(child)).status === 200);
  assert.equal((await viaPort(child)).body, `served-${runId}\n`);
  assert.equal(await fetchRemote(child), true);
  await Sandbox.deleteSnapshot(snap.snapshotId).catch(() => {});
});
