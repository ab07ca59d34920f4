// Contract test: the official E2B JS SDK (npm `e2b`) reaching servers
// inside a sandbox through snapgate's port proxy (getHost, E2B_SANDBOX_URL
// header routing and <port>-<id>.<domain> host routing, private ports with
// the traffic token), signed file URLs in both modes, and the network
// fields of create and getInfo. tests/sdk/run.sh runs it with:
//   SNAPGATE_URL, SNAPGATE_API_KEY, TEST_IMAGE (busybox, with httpd)
// Egress enforcement (packets reaching a remote host or not): egress.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import dns from "node:dns";
import { Sandbox, SandboxError, SandboxNotFoundError } from "e2b";
import { env, template, runId } from "./support.mjs";

const { SNAPGATE_URL, TEST_IMAGE } = env("TEST_IMAGE");
const port = new URL(SNAPGATE_URL).port;

// lookup resolves *.localhost to loopback, as browsers, curl and
// systemd-resolved do; Node 20's resolver (getaddrinfo with plain
// nsswitch) does not.
function lookup(host, opts, cb) {
  if (host === "localhost" || host.endsWith(".localhost")) {
    return opts.all ? cb(null, [{ address: "127.0.0.1", family: 4 }]) : cb(null, "127.0.0.1", 4);
  }
  return dns.lookup(host, opts, cb);
}

// get sends a request with node:http (whose lookup can be replaced, unlike
// fetch's) and reads the whole answer.
function get(url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, lookup }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

// multipart is a form with one file part, as envd's POST /files takes it.
async function multipart(path, content) {
  const form = new FormData();
  form.append("file", new Blob([content]), path);
  const req = new Request("http://multipart.invalid/", { method: "POST", body: form });
  return { body: Buffer.from(await req.arrayBuffer()), contentType: req.headers.get("content-type") };
}

// withoutSandboxUrl runs fn with E2B_SANDBOX_URL unset: the SDK then
// addresses envd by host, https://49983-<id>.<domain>.
async function withoutSandboxUrl(fn) {
  const saved = process.env.E2B_SANDBOX_URL;
  delete process.env.E2B_SANDBOX_URL;
  try {
    return await fn();
  } finally {
    process.env.E2B_SANDBOX_URL = saved;
  }
}

async function eventually(check, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 200));
  }
}

// serve starts busybox httpd on port 8000 of sbx, in the background, and
// waits until the proxy reaches it.
async function serve(sbx, headers = {}) {
  await sbx.commands.run("mkdir -p /tmp/www && echo hello-port > /tmp/www/index.html");
  await sbx.commands.run("httpd -f -p 8000 -h /tmp/www", { background: true });
  await eventually(async () => (await get(`${SNAPGATE_URL}/index.html`, {
    headers: { "E2b-Sandbox-Id": sbx.sandboxId, "E2b-Sandbox-Port": "8000", ...headers },
  })).status === 200);
}

let image;
let sbx; // public ports, httpd on 8000
const started = [];

before(async () => {
  image = await template(`net-img-${runId}`, TEST_IMAGE);
  sbx = await Sandbox.create(image, { timeoutMs: 600_000 });
  started.push(sbx);
  await serve(sbx);
});

after(async () => {
  for (const s of started) await s.kill().catch(() => {});
  if (image) await fetch(`${SNAPGATE_URL}/api/v2/sandboxes/snapshots/${image}`, {
    method: "DELETE", headers: { "X-Api-Key": process.env.SNAPGATE_API_KEY },
  });
});

test("getHost is <port>-<id>.<domain>, the domain the host the client used (loopback written localhost)", () => {
  assert.equal(sbx.getHost(8000), `8000-${sbx.sandboxId}.localhost:${port}`);
});

test("a port through E2B_SANDBOX_URL, routed by the E2b-Sandbox-Id and E2b-Sandbox-Port headers", async () => {
  const r = await get(`${process.env.E2B_SANDBOX_URL}/index.html`, {
    headers: { "E2b-Sandbox-Id": sbx.sandboxId, "E2b-Sandbox-Port": "8000" },
  });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body, "hello-port\n");
});

test("a port at http://<getHost(8000)>, routed by host", async () => {
  const r = await get(`http://${sbx.getHost(8000)}/index.html`);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body, "hello-port\n");
});

test("nothing listening: 502 in E2B's shape", async () => {
  const r = await get(`http://${sbx.getHost(8001)}/`, { headers: { Accept: "application/json" } });
  assert.equal(r.status, 502, r.body);
  assert.deepEqual(JSON.parse(r.body), {
    sandboxId: sbx.sandboxId, message: "The sandbox is running but port is not open", port: 8001, code: 502,
  });
});

test("private ports (allowPublicTraffic: false): the traffic token is returned and required", async () => {
  const priv = await Sandbox.create(image, {
    network: { allowPublicTraffic: false, maskRequestHost: "masked.internal:${PORT}" }, timeoutMs: 600_000,
  });
  started.push(priv);
  assert.ok(priv.trafficAccessToken, "create returns trafficAccessToken");
  const token = { "e2b-traffic-access-token": priv.trafficAccessToken };
  await serve(priv, token);
  const url = `http://${priv.getHost(8000)}/index.html`;
  const missing = await get(url);
  assert.equal(missing.status, 403, missing.body);
  assert.match(JSON.parse(missing.body).message, /Token header 'e2b-traffic-access-token' is missing/);
  const wrong = await get(url, { headers: { "e2b-traffic-access-token": "nope" } });
  assert.equal(wrong.status, 403, wrong.body);
  const ok = await get(url, { headers: token });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.body, "hello-port\n");

  // The server sees the masked Host, ${PORT} filled in (a CGI script
  // prints what busybox httpd hands it).
  await priv.files.write("/tmp/www/cgi-bin/host", '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s" "$HTTP_HOST"\n');
  await priv.commands.run("chmod +x /tmp/www/cgi-bin/host");
  const masked = await get(`http://${priv.getHost(8000)}/cgi-bin/host`, { headers: token });
  assert.equal(masked.status, 200, masked.body);
  assert.equal(masked.body, "masked.internal:8000");

  const info = await priv.getInfo();
  assert.equal(info.network?.allowPublicTraffic, false);
  assert.equal(info.network?.maskRequestHost, "masked.internal:${PORT}");
  const again = await Sandbox.connect(priv.sandboxId);
  assert.equal(again.trafficAccessToken, priv.trafficAccessToken, "connect returns the same token");
});

test("signed URLs through E2B_SANDBOX_URL name no sandbox, and work", async () => {
  await sbx.files.write("/home/user/signed.txt", "signed-content");
  const down = await sbx.downloadUrl("/home/user/signed.txt");
  assert.ok(down.startsWith(`${process.env.E2B_SANDBOX_URL}/files?`), down);
  assert.ok(!down.includes(sbx.sandboxId), down);
  const r = await fetch(down);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), "signed-content");

  const up = await sbx.uploadUrl("/home/user/uploaded.txt");
  const form = new FormData();
  form.append("file", new Blob(["uploaded-content"]), "/home/user/uploaded.txt");
  const w = await fetch(up, { method: "POST", body: form });
  assert.equal(w.status, 200, await w.text());
  assert.equal(await sbx.files.read("/home/user/uploaded.txt"), "uploaded-content");

  const expiring = await sbx.downloadUrl("/home/user/signed.txt", { useSignatureExpiration: 1 });
  await new Promise((res) => setTimeout(res, 2100));
  const expired = await fetch(expiring);
  assert.equal(expired.status, 401);
  assert.deepEqual(await expired.json(), { code: 401, message: "signature is already expired" });
});

test("signed URLs by host (no E2B_SANDBOX_URL): https://49983-<id>.<domain>/files", async () => {
  await sbx.files.write("/home/user/by-host.txt", "by-host");
  const byHost = await withoutSandboxUrl(() => Sandbox.connect(sbx.sandboxId));
  const down = await byHost.downloadUrl("/home/user/by-host.txt");
  assert.ok(down.startsWith(`https://49983-${sbx.sandboxId}.localhost:${port}/files?`), down);
  // snapgate serves plain HTTP here; a TLS front end would serve the https URL.
  const r = await get(down.replace(/^https:/, "http:"));
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body, "by-host");

  const up = await byHost.uploadUrl("/home/user/by-host-up.txt");
  const { body, contentType } = await multipart("/home/user/by-host-up.txt", "up-by-host");
  const w = await get(up.replace(/^https:/, "http:"), { method: "POST", headers: { "Content-Type": contentType }, body });
  assert.equal(w.status, 200, w.body);
  assert.equal(await sbx.files.read("/home/user/by-host-up.txt"), "up-by-host");
});

test("allowInternetAccess: false and network lists: created, reported by getInfo", async () => {
  const closed = await Sandbox.create(image, {
    allowInternetAccess: false, network: { denyOut: ["192.0.2.0/24"] }, timeoutMs: 120_000,
  });
  started.push(closed);
  const info = await closed.getInfo();
  assert.equal(info.allowInternetAccess, false);
  assert.deepEqual(info.network.denyOut, ["192.0.2.0/24", "0.0.0.0/0", "::/0"]);
  assert.equal(info.network.allowPublicTraffic, true);

  // An allow-list: everything denied but allowOut (E2B's precedence).
  const listed = await Sandbox.create(image, {
    network: { allowOut: ["10.1.2.3"], denyOut: ["0.0.0.0/0"] }, timeoutMs: 120_000,
  });
  started.push(listed);
  const linfo = await listed.getInfo();
  assert.deepEqual(linfo.network.allowOut, ["10.1.2.3/32"]);
  assert.deepEqual(linfo.network.denyOut, ["0.0.0.0/0", "::/0"]);
  assert.equal((await sbx.getInfo()).allowInternetAccess, true);
});

test("network options snapgate cannot enforce are refused naming them", async () => {
  for (const [network, field] of [
    [{ denyOut: ["example.com"] }, "network.denyOut"],
    [{ allowOut: ["not a host"] }, "network.allowOut"],
    [{ egressProxy: { address: "proxy.example.com:1080" } }, "network.egressProxy"],
    [{ httpsPorts: [8443] }, "network.httpsPorts"],
  ]) {
    await assert.rejects(Sandbox.create(image, { network }), (err) => {
      assert.ok(err instanceof SandboxError, `got ${err}`);
      assert.match(err.message, /^400: /);
      assert.ok(err.message.includes(field), err.message);
      return true;
    });
  }
});

test("updateNetwork replaces the egress lists (PUT /sandboxes/{id}/network)", async () => {
  await sbx.updateNetwork({ denyOut: ["198.51.100.0/24"] });
  const info = await sbx.getInfo();
  assert.deepEqual(info.network?.denyOut, ["198.51.100.0/24"]);
  await sbx.updateNetwork({});
  await assert.rejects(Sandbox.updateNetwork("inope", {}), SandboxNotFoundError);
});
