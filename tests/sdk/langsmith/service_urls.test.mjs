// Contract test: service URLs driven by the official SDK. A box runs
// busybox httpd on port 8000; serviceUrl mints a token, its service_url
// (with the X-Langsmith-Sandbox-Service-Token header) and browser_url
// (token exchanged for a cookie) reach httpd through snapgate's proxy;
// listServiceURLs and deleteServiceURL (Stainless, the client the SDK
// builds for registries) list and revoke. Environment as in
// snapshots.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { SandboxClient, LangSmithResourceNotFoundError, LangSmithValidationError } from "langsmith/sandbox";
import { SNAPGATE_URL, SNAPGATE_API_KEY, SNAPGATE_OTHER_KEY, newBox } from "./dataplane_cases.mjs";

const client = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_API_KEY });
const other = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_OTHER_KEY });
const TOKEN_HEADER = "X-Langsmith-Sandbox-Service-Token";
const page = `<h1>snapgate service ${process.pid}</h1>\n`;

// The Stainless boxes resource, from the client the SDK builds for
// registries (the hand-written client has no list or delete call).
function boxesAPI() {
  void client.registries;
  return client._registriesClient.sandboxes.boxes;
}

let sb, httpd;
before(async () => {
  sb = await newBox(client);
  await sb.write("/tmp/www/index.html", page);
  // In the foreground (-f) under a handle: the process outlives this
  // request and is killed at the end.
  httpd = await sb.run("exec httpd -f -p 8000 -h /tmp/www", { wait: false });
});
after(async () => {
  try { httpd?.kill(); } catch {}
  await sb?.delete().catch(() => {});
});

// get fetches through the proxy without following redirects.
const get = (url, headers = {}) => fetch(url, { headers, redirect: "manual" });

// serving waits for httpd to answer through svc.
async function serving(svc) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await get(`${await svc.serviceUrl()}index.html`, { [TOKEN_HEADER]: await svc.token() });
    const body = await r.text();
    if (r.status === 200) return body;
    if (Date.now() > deadline) assert.fail(`httpd never answered through the proxy: ${r.status} ${body}`);
    await new Promise((res) => setTimeout(res, 300));
  }
}

let svc;
test("serviceUrl: service_url with the token header reaches the box's port", async () => {
  svc = await client.serviceUrl(sb.name, { port: 8000, expiresInSeconds: 300 });
  const serviceUrl = await svc.serviceUrl();
  assert.match(serviceUrl, new RegExp(`^${SNAPGATE_URL}/service/[^/]+/8000/$`));
  assert.ok((await svc.token()).length > 20);
  const exp = Date.parse(await svc.expiresAt());
  assert.ok(exp - Date.now() > 250_000 && exp - Date.now() <= 300_000, `expires_at ${await svc.expiresAt()}`);
  assert.equal(await serving(svc), page);
  // The SDK's own fetch helper sends the header.
  const r = await svc.fetch("/index.html");
  assert.equal(r.status, 200);
  assert.equal(await r.text(), page);
});

test("proxy: no token, or a wrong one, is refused in LangSmith's shape", async () => {
  const url = `${await svc.serviceUrl()}index.html`;
  for (const headers of [{}, { [TOKEN_HEADER]: "nope" }, { [TOKEN_HEADER]: (await svc.token()).slice(0, -3) + "AAA" }]) {
    const r = await get(url, headers);
    assert.equal(r.status, 403);
    assert.equal((await r.json()).detail.error, "Forbidden");
  }
});

test("browser_url: the token becomes a cookie and leaves the URL", async () => {
  const r = await get(await svc.browserUrl());
  assert.equal(r.status, 302);
  const location = r.headers.get("location");
  assert.ok(location && !location.includes("langsmith_service_token"), `Location ${location}`);
  const cookie = r.headers.get("set-cookie").split(";")[0];
  const page2 = await get(new URL(location, SNAPGATE_URL) + "index.html", { cookie });
  assert.equal(page2.status, 200);
  assert.equal(await page2.text(), page);
});

test("serviceUrl: unsupported fields and bad values are ValidationErrors; another tenant's box is not found", async () => {
  await assert.rejects(client.serviceUrl(sb.name, { port: 8000, embedOrigins: ["https://app.example.com"] }), LangSmithValidationError);
  await assert.rejects(client.serviceUrl(sb.name, { port: 8000, expiresInSeconds: 86401 }), LangSmithValidationError);
  await assert.rejects(other.serviceUrl(sb.name, { port: 8000 }), LangSmithResourceNotFoundError);
});

test("listServiceURLs and deleteServiceURL: the port is listed, then revoked", async () => {
  const boxes = boxesAPI();
  const listed = [];
  for await (const item of boxes.listServiceURLs(sb.name)) listed.push(item);
  assert.deepEqual(listed.map((i) => [i.port, i.access]), [[8000, "token"]]);
  assert.ok(Date.parse(listed[0].expires_at) > Date.now());
  await boxes.deleteServiceURL(sb.name, { port: 8000 });
  const r = await get(`${await svc.serviceUrl()}index.html`, { [TOKEN_HEADER]: await svc.token() });
  assert.equal(r.status, 403);
  const after = [];
  for await (const item of boxes.listServiceURLs(sb.name)) after.push(item);
  assert.deepEqual(after, []);
  // A new token works again.
  const fresh = await client.serviceUrl(sb.name, { port: 8000 });
  assert.equal(await serving(fresh), page);
});
