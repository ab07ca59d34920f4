// Contract test: a box's dataplane (commands and files through its
// dataplane_url) driven by the official SDK with the optional `ws` package
// installed (a devDependency here), so sandbox.run goes over the WebSocket
// (GET {dp}/execute/ws). dataplane_http.test.mjs runs the same commands
// without ws (POST {dp}/execute). Environment as in snapshots.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  SandboxClient,
  Sandbox,
  LangSmithCommandTimeoutError,
  LangSmithResourceNotFoundError,
  LangSmithSandboxConnectionError,
  LangSmithSandboxOperationError,
} from "langsmith/sandbox";
import { SNAPGATE_URL, SNAPGATE_API_KEY, SNAPGATE_OTHER_KEY, newBox, runCases, unique } from "./dataplane_cases.mjs";

const client = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_API_KEY });
const other = new SandboxClient({ apiEndpoint: `${SNAPGATE_URL}/api/v2/sandboxes`, apiKey: SNAPGATE_OTHER_KEY });
const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const text = (b) => new TextDecoder().decode(b);

let sb;
before(async () => {
  sb = await newBox(client);
});
after(async () => {
  await sb?.delete().catch(() => {});
});

test("transport: with ws installed the SDK runs commands over the WebSocket", async () => {
  // Internal, but it is exactly the SDK's choice between the two paths.
  assert.equal(await sb._wsAvailable(), true);
});

runCases(test, () => sb, { timeoutError: LangSmithCommandTimeoutError });

test("ws: output streams to callbacks as it is produced", async () => {
  const seen = [];
  const r = await sb.run("for i in 1 2 3; do echo line$i; sleep 0.3; done; echo err >&2", {
    onStdout: (d) => seen.push(["out", d, Date.now()]),
    onStderr: (d) => seen.push(["err", d, Date.now()]),
  });
  assert.equal(r.exit_code, 0);
  assert.equal(r.stdout, "line1\nline2\nline3\n");
  assert.equal(r.stderr, "err\n");
  const outs = seen.filter(([k]) => k === "out");
  assert.ok(outs.length >= 3, `expected one chunk per line, got ${JSON.stringify(outs)}`);
  assert.ok(outs.at(-1)[2] - outs[0][2] >= 400, "output arrived all at once, not streamed");
});

test("ws: a handle streams chunks with byte offsets that never split a character", async () => {
  const handle = await sb.run("for i in 1 2 3 4 5; do printf 'é€😀'; done; printf 'ok'", { wait: false });
  assert.ok(handle.commandId, "started carries the command id");
  assert.ok(Number.isInteger(handle.pid));
  let next = 0;
  let out = "";
  for await (const chunk of handle) {
    if (chunk.stream !== "stdout") continue;
    assert.equal(chunk.offset, next, "offset = bytes before this chunk");
    next += Buffer.byteLength(chunk.data, "utf8");
    out += chunk.data;
  }
  assert.equal(out, "é€😀".repeat(5) + "ok");
  assert.equal((await handle.result).exit_code, 0);
});

test("ws: stdin, close_stdin and wait:false", async () => {
  const handle = await sb.run("read a; read b; echo \"$a+$b\"; cat", { wait: false, closeInput: false });
  handle.sendInput("one\n");
  handle.sendInput("two\nrest");
  handle.closeInput();
  const r = await handle.result;
  assert.equal(r.stdout, "one+two\nrest");
  assert.equal(r.exit_code, 0);
});

test("ws: stdin is closed by default, so a reader sees EOF instead of hanging", async () => {
  const r = await sb.run("cat; echo done", { timeout: 10 });
  assert.equal(r.stdout, "done\n");
});

test("ws: kill ends the command with a non-zero exit", async () => {
  // Breaking out of the handle's iteration would close its socket: keep
  // draining it and kill from the output callback's cue.
  let sawUp;
  const up = new Promise((resolve) => (sawUp = resolve));
  const handle = await sb.run("echo up; sleep 30", { wait: false, onStdout: (d) => d.includes("up") && sawUp() });
  const result = handle.result;
  await up;
  handle.kill();
  const r = await result;
  assert.notEqual(r.exit_code, 0);
});

test("ws: reconnect resumes from the given offsets", async () => {
  const handle = await sb.run("echo first; sleep 1; echo second", { wait: false });
  const again = await sb.reconnect(handle.commandId, { stdoutOffset: "first\n".length });
  const r = await again.result;
  assert.equal(r.stdout, "second\n");
  assert.equal(r.exit_code, 0);
  // The first handle still sees everything.
  assert.equal((await handle.result).stdout, "first\nsecond\n");
  // An unknown command id is the SDK's operation error.
  const lost = await sb.reconnect(`${handle.commandId}-nope`);
  await assert.rejects(lost.result, (err) => {
    assert.ok(err instanceof LangSmithSandboxOperationError, `got ${err}`);
    assert.equal(err.errorType, "CommandNotFound");
    return true;
  });
});

test("ws: command_id is an idempotency key: the same id never runs twice", async () => {
  const commandId = `cmd-${unique("x")}`;
  const file = `/tmp/${commandId}`;
  const first = await sb.run(`echo ran >> ${file}; cat ${file}`, { commandId });
  const second = await sb.run(`echo ran >> ${file}; cat ${file}`, { commandId });
  assert.equal(first.stdout, "ran\n");
  assert.equal(second.stdout, "ran\n", "the second execute attached to the first command");
});

test("files: write and read text, binary and large files", async () => {
  await sb.write("/tmp/dp/hello.txt", "hello, 世界\n");
  assert.equal(text(await sb.read("/tmp/dp/hello.txt")), "hello, 世界\n");
  assert.equal((await sb.run("cat /tmp/dp/hello.txt")).stdout, "hello, 世界\n");

  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  await sb.write("/tmp/dp/bytes.bin", all);
  assert.deepEqual(await sb.read("/tmp/dp/bytes.bin"), all);

  const big = randomBytes(12 << 20);
  await sb.write("/tmp/dp/big.bin", big, 120);
  const back = await sb.read("/tmp/dp/big.bin", 120);
  assert.equal(back.length, big.length);
  assert.equal(sha256(back), sha256(big));
  assert.equal((await sb.run("wc -c < /tmp/dp/big.bin")).stdout.trim(), String(big.length));

  // Overwrite truncates.
  await sb.write("/tmp/dp/hello.txt", "short");
  assert.equal(text(await sb.read("/tmp/dp/hello.txt")), "short");
});

test("files: missing files and directories get the SDK's errors", async () => {
  await assert.rejects(sb.read("/tmp/dp/missing.txt"), (err) => {
    assert.ok(err instanceof LangSmithResourceNotFoundError, `got ${err}`);
    assert.equal(err.resourceType, "file");
    return true;
  });
  await assert.rejects(sb.read("/tmp"), (err) => {
    assert.ok(err instanceof LangSmithSandboxOperationError, `got ${err}`);
    assert.equal(err.operation, "read");
    return true;
  });
  await assert.rejects(sb.write("/tmp", "x"), (err) => {
    assert.ok(err instanceof LangSmithSandboxOperationError, `got ${err}`);
    assert.equal(err.operation, "write");
    return true;
  });
});

test("files: stat and ranged reads", async () => {
  const body = "0123456789abcdefghij";
  await sb.write("/tmp/dp/range.txt", body);
  const st = await sb.stat("/tmp/dp/range.txt");
  assert.equal(st.size_bytes, body.length);
  assert.ok(st.etag, "HEAD carries an ETag");
  assert.ok(st.last_modified, "HEAD carries Last-Modified");

  const head = await sb.readRange("/tmp/dp/range.txt", { start: 0, end: 9 });
  assert.equal(text(head.content), "0123456789");
  assert.deepEqual([head.partial, head.start, head.total_bytes, head.etag], [true, 0, 20, st.etag]);

  const rest = await sb.readRange("/tmp/dp/range.txt", { start: 10, ifRange: st.etag });
  assert.equal(text(rest.content), "abcdefghij");
  assert.equal(rest.start, 10);

  const tail = await sb.readRange("/tmp/dp/range.txt", { suffixBytes: 3 });
  assert.equal(text(tail.content), "hij");

  const same = await sb.readRange("/tmp/dp/range.txt", { start: 0, ifNoneMatch: st.etag });
  assert.equal(same.unchanged, true);

  await sb.write("/tmp/dp/range.txt", "changed content, longer than before");
  const stale = await sb.readRange("/tmp/dp/range.txt", { start: 5, ifRange: st.etag });
  assert.equal(stale.partial, false, "a stale If-Range gets the whole file");
  assert.equal(text(stale.content), "changed content, longer than before");

  await assert.rejects(sb.readRange("/tmp/dp/range.txt", { start: 1000 }), (err) => {
    assert.ok(err instanceof LangSmithSandboxOperationError, `got ${err}`);
    return true;
  });
});

test("files: ls, glob and grep", async () => {
  const aPy = "import os\nprint('needle here')\n";
  await sb.write("/tmp/tree/a.py", aPy);
  await sb.write("/tmp/tree/sub/b.py", "needle\n");
  await sb.write("/tmp/tree/sub/c.txt", "a needle in text\n");
  await sb.write("/tmp/tree/sub/deeper/d.py", "no match\n");

  const ls = await sb.ls("/tmp/tree");
  assert.deepEqual(ls.matches.map((m) => [m.path, m.is_dir]), [["/tmp/tree/a.py", false], ["/tmp/tree/sub", true]]);
  assert.equal(ls.matches[0].size_bytes, aPy.length);
  assert.ok(!Number.isNaN(Date.parse(ls.matches[0].modified_at)));
  assert.equal(ls.truncated, false);

  const py = await sb.glob("**/*.py", "/tmp/tree");
  assert.deepEqual(py.matches.map((m) => m.path), ["/tmp/tree/a.py", "/tmp/tree/sub/b.py", "/tmp/tree/sub/deeper/d.py"]);
  const capped = await sb.glob("**/*.py", "/tmp/tree", { limit: 2 });
  assert.equal(capped.matches.length, 2);
  assert.equal(capped.truncated, true);

  const hits = await sb.grep("needle", "/tmp/tree");
  assert.deepEqual(hits.matches, [
    { path: "/tmp/tree/a.py", line: 2, text: "print('needle here')" },
    { path: "/tmp/tree/sub/b.py", line: 1, text: "needle" },
    { path: "/tmp/tree/sub/c.txt", line: 1, text: "a needle in text" },
  ]);
  const pyHits = await sb.grep("needle", "/tmp/tree", { glob: "*.py" });
  assert.deepEqual(pyHits.matches.map((m) => m.path), ["/tmp/tree/a.py", "/tmp/tree/sub/b.py"]);
  await assert.rejects(sb.ls("/tmp/no-such-dir"), LangSmithResourceNotFoundError);
});

test("files: paths never leave the sandbox", async (t) => {
  // A file on the host running snapgate, outside every sandbox.
  const hostDir = mkdtempSync(join(tmpdir(), "snapgate-escape-"));
  t.after(() => rmSync(hostDir, { recursive: true, force: true }));
  const secret = `host-secret-${unique("s")}`;
  writeFileSync(join(hostDir, "secret"), secret);
  const up = "../".repeat(40);

  // '..' is clamped at the sandbox's root.
  const inside = text(await sb.read(`${up}etc/passwd`));
  assert.equal(inside, (await sb.run("cat /etc/passwd")).stdout);
  await assert.rejects(sb.read(`/${up}${hostDir}/secret`), LangSmithResourceNotFoundError);

  // A symlink pointing out is resolved inside the sandbox (or refused).
  await sb.run(`ln -sf ${hostDir}/secret /tmp/abs-link; ln -sf ${up}${hostDir}/secret /tmp/rel-link`);
  for (const link of ["/tmp/abs-link", "/tmp/rel-link"]) {
    const got = await sb.read(link).then(text, (err) => err);
    if (typeof got === "string") assert.ok(!got.includes(secret), `${link} leaked a host file`);
    else assert.ok(got instanceof LangSmithResourceNotFoundError || got instanceof LangSmithSandboxOperationError, `${link}: ${got}`);
  }
  // Writing through a link pointing out does not touch the host.
  await sb.write("/tmp/abs-link", "overwritten").catch(() => {});
  assert.equal((await import("node:fs")).readFileSync(join(hostDir, "secret"), "utf8"), secret);
});

test("tenancy: another tenant's key cannot reach the box", async () => {
  // The other tenant holding the URL (leaked, guessed) gets nothing.
  const stolen = new Sandbox({ name: sb.name, id: sb.id, dataplane_url: sb.dataplane_url }, other);
  await assert.rejects(stolen.read("/etc/passwd"), LangSmithResourceNotFoundError);
  await assert.rejects(stolen.write("/tmp/x", "x"), LangSmithResourceNotFoundError);
  await assert.rejects(stolen.ls("/"), LangSmithResourceNotFoundError);
  // Over the WebSocket the upgrade is refused (404), a connection error.
  await assert.rejects(stolen.run("echo pwned"), LangSmithSandboxConnectionError);
});

test("addressing: the dataplane also takes the box's name", async () => {
  const res = await fetch(`${SNAPGATE_URL}/dataplane/${encodeURIComponent(sb.name)}/execute`, {
    method: "POST",
    headers: { "X-Api-Key": SNAPGATE_API_KEY, "Content-Type": "application/json" },
    body: JSON.stringify({ command: "echo by-name" }),
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { stdout: "by-name\n", stderr: "", exit_code: 0 });
});
