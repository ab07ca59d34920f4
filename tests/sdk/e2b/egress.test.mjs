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

test("updateNetwork applies to the running sandbox", async () => {
  const sbx = await create();
  assert.equal(await fetchRemote(sbx), true);
  await sbx.updateNetwork({ denyOut: ["0.0.0.0/0"] });
  assert.equal(await fetchRemote(sbx), false);
  await sbx.updateNetwork({ denyOut: [] });
  assert.equal(await fetchRemote(sbx), true);
});

test("a sandbox restored from a snapshot gets a fresh address and reaches out", async () => {
  template = await templateFrom(`egress-${runId}`, TEST_IMAGE);
  const parent = await create({}, template);
  await parent.files.write("/tmp/mark", runId);
  const snap = await parent.createSnapshot();
  const child = await create({}, snap.snapshotId);
  const addr = async (s) => (await s.commands.run("tail -n 1 /etc/hosts")).stdout.split(/\s+/)[0];
  assert.notEqual(await addr(child), await addr(parent));
  assert.equal((await child.files.read("/tmp/mark")), runId);
  assert.equal(await fetchRemote(child), true);
  await Sandbox.deleteSnapshot(snap.snapshotId).catch(() => {});
});
