// Contract test: sandbox.run without the optional `ws` package, as after a
// plain `npm install langsmith`: the SDK then uses the blocking
// POST {dp}/execute. ws is installed here (dataplane.test.mjs needs it), so
// this file, which node --test runs in its own process, hides it from the
// SDK with a module resolve hook before loading it.
import { register } from "node:module";
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

register(
  "data:text/javascript," +
    encodeURIComponent(`export async function resolve(specifier, context, next) {
      if (specifier === "ws") throw Object.assign(new Error("ws hidden by the test"), { code: "ERR_MODULE_NOT_FOUND" });
      return next(specifier, context);
    }`),
);
const { SandboxClient, LangSmithSandboxOperationError, LangSmithResourceNotFoundError, Sandbox } = await import("langsmith/sandbox");
const { SNAPGATE_URL, SNAPGATE_API_KEY, SNAPGATE_OTHER_KEY, newBox, runCases } = await import("./dataplane_cases.mjs");

const client = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_API_KEY });
const other = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_OTHER_KEY });

let sb;
before(async () => {
  sb = await newBox(client);
});
after(async () => {
  await sb?.delete().catch(() => {});
});

test("transport: without ws the SDK runs commands over HTTP", async () => {
  assert.equal(await sb._wsAvailable(), false);
});

// Over HTTP the SDKs have no timeout token: the timeout is their command
// (operation) error.
runCases(test, () => sb, { timeoutError: LangSmithSandboxOperationError });

test("http: the timeout error names the command operation", async () => {
  await assert.rejects(sb.run("sleep 10", { timeout: 1 }), (err) => {
    assert.equal(err.operation, "command");
    assert.match(err.message, /timed out/);
    return true;
  });
});

test("http: run_config combined with env or cwd is refused by the server too", async () => {
  const res = await fetch(`${sb.dataplane_url}/execute`, {
    method: "POST",
    headers: { "X-Api-Key": SNAPGATE_API_KEY, "Content-Type": "application/json" },
    body: JSON.stringify({ command: "true", env: { A: "1" }, run_config: { work_dir: "/" } }),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).detail.error, "CommandError");
});

test("http: another tenant's key cannot run commands in the box", async () => {
  const stolen = new Sandbox({ name: sb.name, id: sb.id, dataplane_url: sb.dataplane_url }, other);
  await assert.rejects(stolen.run("echo pwned"), LangSmithResourceNotFoundError);
});
