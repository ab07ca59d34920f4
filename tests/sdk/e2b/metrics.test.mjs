// Contract test: the official E2B JS SDK's getMetrics against snapgate
// (tests/sdk/run.sh). snapgate samples each running sandbox every 5 s by
// default, so the tests poll with a bounded wait.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Sandbox, SandboxNotFoundError } from "e2b";
import { env } from "./support.mjs";

const { SNAPGATE_OTHER_KEY } = env("SNAPGATE_OTHER_KEY");

const started = [];
after(async () => {
  await Promise.allSettled(started.map((s) => s.kill()));
});

// until polls fn until it returns a truthy value or ms pass.
async function until(what, ms, fn) {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await fn();
    if (got) return got;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

test("getMetrics returns samples with the SDK's fields; a CPU hog moves cpuUsedPct", async () => {
  const sbx = await Sandbox.create({ timeoutMs: 300_000 });
  started.push(sbx);

  const first = await until("a first sample", 30_000, async () => {
    const m = await sbx.getMetrics();
    return m.length > 0 && m;
  });
  const s = first.at(-1);
  assert.deepEqual(Object.keys(s).sort(),
    ["cpuCount", "cpuUsedPct", "diskTotal", "diskUsed", "memCache", "memTotal", "memUsed", "timestamp"]);
  assert.ok(s.timestamp instanceof Date && !Number.isNaN(s.timestamp.getTime()), `timestamp ${s.timestamp}`);
  assert.ok(Math.abs(s.timestamp.getTime() - Date.now()) < 60_000, `timestamp ${s.timestamp.toISOString()} is not recent`);
  assert.ok(s.cpuCount >= 1, `cpuCount ${s.cpuCount}`);
  assert.ok(s.cpuUsedPct >= 0 && s.cpuUsedPct <= 100, `cpuUsedPct ${s.cpuUsedPct}`);
  assert.ok(s.memUsed > 0 && s.memUsed <= s.memTotal, `memUsed ${s.memUsed} of ${s.memTotal}`);
  assert.ok(s.diskUsed >= 0 && (s.diskTotal === 0 || s.diskUsed <= s.diskTotal), `diskUsed ${s.diskUsed} of ${s.diskTotal}`);

  // A start in the future selects nothing.
  assert.deepEqual(await sbx.getMetrics({ start: new Date(Date.now() + 3_600_000) }), []);

  const hogStart = new Date();
  await sbx.commands.run("while :; do :; done", { background: true });
  const busy = await until("a sample with the CPU hog running", 45_000, async () => {
    const m = await sbx.getMetrics({ start: hogStart });
    return m.find((x) => x.cpuUsedPct > 50);
  });
  assert.ok(busy.timestamp >= new Date(Math.floor(hogStart.getTime() / 1000) * 1000), "the busy sample is from before the hog");
  // Every sample of the range is within it.
  for (const x of await sbx.getMetrics({ start: hogStart, end: new Date() })) {
    assert.ok(x.timestamp.getTime() >= Math.floor(hogStart.getTime() / 1000) * 1000, `sample at ${x.timestamp.toISOString()} before start`);
  }
});

test("getMetrics of another tenant's or a killed sandbox is SandboxNotFoundError", async () => {
  const sbx = await Sandbox.create({ timeoutMs: 120_000 });
  started.push(sbx);
  await assert.rejects(Sandbox.getMetrics(sbx.sandboxId, { apiKey: SNAPGATE_OTHER_KEY }), SandboxNotFoundError);
  await sbx.kill();
  await assert.rejects(sbx.getMetrics(), SandboxNotFoundError);
});
