// Shared by dataplane.test.mjs (the SDK with the optional `ws` package: its
// run() goes over the WebSocket) and dataplane_http.test.mjs (ws hidden:
// run() is POST /execute). Environment as in snapshots.test.mjs.
import assert from "node:assert/strict";

export const { SNAPGATE_URL, SNAPGATE_API_KEY, SNAPGATE_OTHER_KEY } = process.env;
for (const [k, v] of Object.entries({ SNAPGATE_URL, SNAPGATE_API_KEY, SNAPGATE_OTHER_KEY })) {
  if (!v) throw new Error(`${k} must be set (run through tests/sdk/run.sh)`);
}

export const unique = (p) => `${p}-${process.pid}-${Math.floor(Math.random() * 1e9)}`;

// A box of the default snapshot (busybox in tests/sdk/run.sh: no bash, so
// the default shell /bin/bash falls back to /bin/sh), deleted at the end.
export async function newBox(client) {
  return client.createSandbox({ name: unique("dp") });
}

// What sandbox.run returns, whichever transport the SDK picked.
export function runCases(test, box, { timeoutError }) {
  test("run: stdout, stderr and exit code", async () => {
    const r = await box().run("echo hello; echo oops >&2");
    assert.deepEqual(r, { stdout: "hello\n", stderr: "oops\n", exit_code: 0 });
  });

  test("run: env and cwd", async () => {
    const r = await box().run('echo "$GREETING"; pwd', { env: { GREETING: "hi there" }, cwd: "/tmp" });
    assert.equal(r.stdout, "hi there\n/tmp\n");
    assert.equal(r.exit_code, 0);
  });

  test("run: run_config instead of env and cwd", async () => {
    const r = await box().run('echo "$A"; pwd', { runConfig: { env_vars: { A: "b" }, work_dir: "/etc" } });
    assert.equal(r.stdout, "b\n/etc\n");
  });

  test("run: a non-zero exit is a result, not an error", async () => {
    const r = await box().run("echo partial; exit 3");
    assert.equal(r.exit_code, 3);
    assert.equal(r.stdout, "partial\n");
  });

  test("run: a command that does not exist exits 127", async () => {
    const r = await box().run("no-such-command-snapgate");
    assert.equal(r.exit_code, 127);
    assert.match(r.stderr, /not found/);
  });

  test("run: the timeout kills the command", async () => {
    const started = Date.now();
    await assert.rejects(box().run("sleep 30", { timeout: 1 }), (err) => {
      assert.ok(err instanceof timeoutError, `got ${err?.constructor?.name}: ${err}`);
      return true;
    });
    assert.ok(Date.now() - started < 15_000, "the timeout did not end the call");
    // Killed, not left running.
    const ps = await box().run("ps -o args 2>/dev/null || ps");
    assert.doesNotMatch(ps.stdout, /sleep 30/);
  });

  test("run: multi-byte output", async () => {
    const r = await box().run("printf 'h\\303\\251llo \\342\\202\\254\\n'");
    assert.equal(r.stdout, "héllo €\n");
  });
}
