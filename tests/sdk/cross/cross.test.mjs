// Contract test: a snapshot made through one vendor's SDK is usable through
// the other's (same environment as the other SDK tests, see tests/sdk/run.sh).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Sandbox } from "e2b";
import { SandboxClient, LangSmithResourceNotFoundError } from "langsmith/sandbox";

const { SNAPGATE_URL, SNAPGATE_API_KEY, SNAPGATE_OTHER_KEY, TEST_IMAGE } = process.env;
process.env.E2B_API_URL = SNAPGATE_URL;
process.env.E2B_SANDBOX_URL = SNAPGATE_URL;
process.env.E2B_API_KEY = SNAPGATE_API_KEY;
const ls = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_API_KEY });
const lsOther = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_OTHER_KEY });
const unique = (p) => `${p}-${process.pid}-${Math.floor(Math.random() * 1e9)}`;

test("LangSmith image snapshot -> E2B sandbox -> E2B snapshot -> LangSmith box", async () => {
  const image = await ls.createSnapshot(unique("x-img"), TEST_IMAGE, 1 << 30, { timeout: 120 });
  const sbx = await Sandbox.create(image.name, { timeoutMs: 120_000 });
  const kept = [];
  try {
    const name = unique("x-e2b");
    const info = await sbx.createSnapshot({ name });
    // The E2B snapshot, through LangSmith: by name, by id, in the list.
    const byName = await ls.getSnapshot(name);
    assert.equal(byName.status, "ready");
    assert.equal(byName.source_sandbox_id, sbx.sandboxId);
    assert.equal((await ls.getSnapshot(byName.id)).name, name);
    assert.ok((await ls.listSnapshots({ nameContains: name })).some((s) => s.id === byName.id));
    await assert.rejects(lsOther.getSnapshot(byName.id), LangSmithResourceNotFoundError);

    // A LangSmith box from the E2B snapshot, and a LangSmith capture of it
    // that E2B starts a sandbox from.
    const box = await ls.createSandbox(byName.id);
    kept.push(() => box.delete());
    assert.equal(box.snapshot_id, byName.id);
    const capName = unique("x-ls");
    const cap = await box.captureSnapshot(capName);
    const back = await Sandbox.create(capName, { timeoutMs: 60_000 });
    kept.push(() => back.kill());
    assert.equal((await back.getInfo()).templateId, capName);

    // Deleting through LangSmith removes it for E2B too.
    await ls.deleteSnapshot(name);
    assert.equal(await Sandbox.deleteSnapshot(info.snapshotId), false);
    await ls.deleteSnapshot(cap.id);
  } finally {
    for (const k of kept) await k().catch(() => {});
    await sbx.kill().catch(() => {});
    await ls.deleteSnapshot(image.id).catch(() => {});
  }
});
