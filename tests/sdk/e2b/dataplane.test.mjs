// Contract test: the official E2B JS SDK (npm `e2b`, pinned in package.json)
// drives snapgate's envd (the in-sandbox API: sandbox.commands.* and
// sandbox.files.*). tests/sdk/run.sh starts snapgate, its containerd and a
// local registry, then runs this file with:
//   SNAPGATE_URL       base URL of snapgate (no path)
//   SNAPGATE_API_KEY   a key of tenant A
//   TEST_IMAGE         an image reference in the local registry: busybox
//                      with E2B's "user" (uid 1000, /home/user) and no bash,
//                      so /bin/sh stands in for the SDK's /bin/bash
// envd traffic goes to snapgate itself: E2B_SANDBOX_URL = SNAPGATE_URL, the
// SDK routing by the E2b-Sandbox-Id header.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  Sandbox,
  SandboxError,
  CommandExitError,
  TimeoutError,
  AuthenticationError,
  FileNotFoundError,
  NotFoundError,
  SandboxNotFoundError,
} from "e2b";
import { env, api } from "./support.mjs";

const { SNAPGATE_URL, SNAPGATE_API_KEY, TEST_IMAGE } = env("TEST_IMAGE");

const run = `${process.pid}-${Math.floor(Math.random() * 1e9)}`;


async function eventually(check, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}

let image; // tenant A's image snapshot id
let sbx; // one sandbox shared by the tests below

before(async () => {
  const created = await api("POST", "/api/v2/sandboxes/snapshots", {
    name: `envd-img-${run}`, docker_image: TEST_IMAGE, fs_capacity_bytes: 1 << 30,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  let snap = created.body;
  for (const deadline = Date.now() + 180_000; snap.status === "building" && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 500));
    snap = (await api("GET", `/api/v2/sandboxes/snapshots/${snap.id}`)).body;
  }
  assert.equal(snap.status, "ready", JSON.stringify(snap));
  image = snap.id;
  sbx = await Sandbox.create(image, { envs: { FROM_CREATE: "yes" }, timeoutMs: 600_000 });
});

after(async () => {
  if (sbx) await sbx.kill().catch(() => {});
  if (image) await api("DELETE", `/api/v2/sandboxes/snapshots/${image}`);
});

test("isRunning goes to envd's /health", async () => {
  assert.equal(await sbx.isRunning(), true);
});

test("commands.run in the foreground: stdout, stderr, exit code", async () => {
  const r = await sbx.commands.run("echo hello; echo oops >&2");
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, "hello\n");
  assert.equal(r.stderr, "oops\n");

  const seen = [];
  await sbx.commands.run("for i in 1 2 3; do echo $i; done", { onStdout: (d) => seen.push(d) });
  assert.equal(seen.join(""), "1\n2\n3\n");

  await assert.rejects(sbx.commands.run("echo partial; exit 3"), (err) => {
    assert.ok(err instanceof CommandExitError, `got ${err}`);
    assert.equal(err.exitCode, 3);
    assert.equal(err.stdout, "partial\n");
    assert.equal(err.error, "exit status 3");
    return true;
  });
  // A command that does not exist is the shell's 127, not an RPC error.
  await assert.rejects(sbx.commands.run("no-such-command-xyz"), (err) => {
    assert.ok(err instanceof CommandExitError, `got ${err}`);
    assert.equal(err.exitCode, 127);
    assert.match(err.stderr, /not found/);
    return true;
  });
});

test("envs, cwd and user", async () => {
  const r = await sbx.commands.run('echo "$FOO $FROM_CREATE $(pwd)"', { envs: { FOO: "bar" }, cwd: "/tmp" });
  assert.equal(r.stdout, "bar yes /tmp\n");
  // E2B's default user, and root on request.
  assert.equal((await sbx.commands.run('echo "$(id -u) $HOME $USER $(pwd)"')).stdout, "1000 /home/user user /home/user\n");
  assert.equal((await sbx.commands.run('echo "$(id -u) $HOME"', { user: "root" })).stdout, "0 /root\n");
  await assert.rejects(sbx.commands.run("true", { cwd: "/no/such/dir" }), (err) => {
    assert.ok(err instanceof SandboxError && !(err instanceof CommandExitError), `got ${err}`);
    assert.match(err.message, /no\/such\/dir/);
    return true;
  });
  await assert.rejects(sbx.commands.run("true", { user: "nobody-here" }), AuthenticationError);
});

test("background commands: list, wait, kill, connect", async () => {
  const sleeper = await sbx.commands.run("sleep 60", { background: true });
  assert.ok(sleeper.pid > 0);
  const listed = await sbx.commands.list();
  const mine = listed.find((p) => p.pid === sleeper.pid);
  assert.ok(mine, JSON.stringify(listed));
  assert.deepEqual(mine.args, ["-l", "-c", "sleep 60"]);

  assert.equal(await sleeper.kill(), true);
  await assert.rejects(sleeper.wait(), (err) => {
    assert.ok(err instanceof CommandExitError, `got ${err}`);
    assert.equal(err.exitCode, -1);
    assert.equal(err.error, "signal: killed");
    return true;
  });
  assert.ok(!(await sbx.commands.list()).some((p) => p.pid === sleeper.pid));
  assert.equal(await sbx.commands.kill(999_999), false, "an unknown pid");

  const later = await sbx.commands.run("sleep 1; echo done", { background: true });
  assert.equal((await later.wait()).stdout, "done\n");

  // Re-attach by pid (snapgate replays the buffered output).
  const bg = await sbx.commands.run("echo early; sleep 1; echo late", { background: true });
  await bg.disconnect();
  const again = await sbx.commands.connect(bg.pid);
  const res = await again.wait();
  assert.equal(res.exitCode, 0);
  assert.match(res.stdout, /late\n$/);
});

test("sendStdin and closeStdin", async () => {
  const cat = await sbx.commands.run("cat; echo end", { background: true, stdin: true });
  await sbx.commands.sendStdin(cat.pid, "hello ");
  await cat.sendStdin("world\n");
  await cat.closeStdin();
  const r = await cat.wait();
  assert.equal(r.stdout, "hello world\nend\n");
  // Without stdin: true the process has no stdin to write to.
  const noStdin = await sbx.commands.run("sleep 5", { background: true });
  await assert.rejects(sbx.commands.sendStdin(noStdin.pid, "x"), SandboxError);
  await noStdin.kill();
});

test("timeoutMs kills the command: TimeoutError", async () => {
  const t0 = Date.now();
  await assert.rejects(sbx.commands.run("sleep 30; echo never", { timeoutMs: 1500 }), TimeoutError);
  assert.ok(Date.now() - t0 < 15_000);
  await eventually(async () => !(await sbx.commands.list()).some((p) => p.args?.[2] === "sleep 30; echo never"));
});

test("files: write and read text and bytes, info, list, exists", async () => {
  const dir = `/tmp/files-${run}`;
  const info = await sbx.files.write(`${dir}/a.txt`, "hello");
  assert.deepEqual({ name: info.name, type: info.type, path: info.path }, { name: "a.txt", type: "file", path: `${dir}/a.txt` });
  assert.equal(await sbx.files.read(`${dir}/a.txt`), "hello");

  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  await sbx.files.write(`${dir}/b.bin`, bytes);
  assert.deepEqual(await sbx.files.read(`${dir}/b.bin`, { format: "bytes" }), bytes);
  const blob = await sbx.files.read(`${dir}/b.bin`, { format: "blob" });
  assert.equal(blob.size, 256);
  await sbx.files.write(`${dir}/empty.txt`, "");
  assert.equal(await sbx.files.read(`${dir}/empty.txt`), "");
  // Relative paths are under the user's home; files belong to the user.
  assert.equal((await sbx.files.write(`rel-${run}.txt`, "r")).path, `/home/user/rel-${run}.txt`);
  assert.equal((await sbx.files.getInfo(`rel-${run}.txt`)).owner, "user");
  const asRoot = await sbx.files.write(`rel-${run}.txt`, "r", { user: "root" });
  assert.equal(asRoot.path, `/root/rel-${run}.txt`);
  assert.equal((await sbx.files.getInfo(asRoot.path)).owner, "root");
  assert.equal(await sbx.files.read(`~/rel-${run}.txt`, { user: "root" }), "r");

  const entry = await sbx.files.getInfo(`${dir}/a.txt`);
  assert.equal(entry.type, "file");
  assert.equal(entry.size, 5);
  assert.equal(entry.path, `${dir}/a.txt`);
  assert.match(entry.permissions, /^-rw/);
  assert.ok(entry.modifiedTime instanceof Date && Math.abs(entry.modifiedTime - Date.now()) < 120_000, String(entry.modifiedTime));
  assert.equal((await sbx.files.getInfo(dir)).type, "dir");

  const names = (await sbx.files.list(dir)).map((e) => `${e.name}:${e.type}`).sort();
  assert.deepEqual(names, ["a.txt:file", "b.bin:file", "empty.txt:file"]);
  assert.equal(await sbx.files.exists(`${dir}/a.txt`), true);
  assert.equal(await sbx.files.exists(`${dir}/nope`), false);
  await assert.rejects(sbx.files.read(`${dir}/nope`), FileNotFoundError);
  await assert.rejects(sbx.files.getInfo(`${dir}/nope`), FileNotFoundError);
  await assert.rejects(sbx.files.list(`${dir}/nope`), FileNotFoundError);
  // The file is seen by commands too.
  assert.equal((await sbx.commands.run(`cat ${dir}/a.txt`)).stdout, "hello");
});

test("files: a 100 MiB upload and download stream through", async () => {
  const size = 100 * 1024 * 1024;
  const chunk = new Uint8Array(1024 * 1024).map((_, i) => (i * 31 + 7) % 256);
  let sent = 0;
  const stream = new ReadableStream({
    pull(controller) {
      if (sent === size) return controller.close();
      controller.enqueue(chunk);
      sent += chunk.length;
    },
  });
  const path = `/tmp/big-${run}.bin`;
  const info = await sbx.files.write(path, stream);
  assert.equal(info.path, path);
  const sum = await sbx.commands.run(`wc -c < ${path}; md5sum ${path} | cut -d' ' -f1`);
  const { createHash } = await import("node:crypto");
  const md5 = createHash("md5");
  for (let i = 0; i < 100; i++) md5.update(chunk);
  assert.equal(sum.stdout, `${size}\n${md5.digest("hex")}\n`);
  // Downloaded as a stream: counted, never held whole.
  const body = await sbx.files.read(path, { format: "stream" });
  let got = 0;
  for await (const part of body) got += part.length;
  assert.equal(got, size);
  await sbx.files.remove(path);
});

test("files: makeDir, rename, remove, many files at once", async () => {
  const dir = `/tmp/dirs-${run}`;
  assert.equal(await sbx.files.makeDir(`${dir}/x/y`), true);
  assert.equal(await sbx.files.makeDir(`${dir}/x/y`), false, "already exists");
  const deep = await sbx.files.list(dir, { depth: 2 });
  assert.deepEqual(deep.map((e) => e.path).sort(), [`${dir}/x`, `${dir}/x/y`]);

  const written = await sbx.files.write([
    { path: `${dir}/m/1.txt`, data: "one" },
    { path: `${dir}/m/2.txt`, data: new Uint8Array([50]) },
    { path: `${dir}/m/sub/3.txt`, data: new Blob(["three"]) },
  ]);
  assert.deepEqual(written.map((w) => w.path), [`${dir}/m/1.txt`, `${dir}/m/2.txt`, `${dir}/m/sub/3.txt`]);
  assert.equal(await sbx.files.read(`${dir}/m/sub/3.txt`), "three");
  // A stream goes as application/octet-stream.
  const streamed = await sbx.files.write(`${dir}/m/s.txt`, new Blob(["streamed"]).stream());
  assert.equal(streamed.path, `${dir}/m/s.txt`);
  assert.equal(await sbx.files.read(`${dir}/m/s.txt`), "streamed");

  // Larger than the API's body limit: uploads are streamed to the disk.
  const big = Uint8Array.from({ length: 8 << 20 }, (_, i) => i % 251);
  assert.equal((await sbx.files.write(`${dir}/big.bin`, big)).path, `${dir}/big.bin`);
  assert.deepEqual(await sbx.files.read(`${dir}/big.bin`, { format: "bytes" }), big);
  assert.equal((await sbx.files.getInfo(`${dir}/big.bin`)).size, 8 << 20);
  // gzip: the body is gzipped (octet-stream + Content-Encoding); reads ask for gzip.
  await sbx.files.write(`${dir}/gz.txt`, "gzipped text", { gzip: true });
  assert.equal(await sbx.files.read(`${dir}/gz.txt`, { gzip: true }), "gzipped text");

  const moved = await sbx.files.rename(`${dir}/m/1.txt`, `${dir}/renamed.txt`);
  assert.equal(moved.path, `${dir}/renamed.txt`);
  assert.equal(await sbx.files.exists(`${dir}/m/1.txt`), false);
  await assert.rejects(sbx.files.rename(`${dir}/m/1.txt`, `${dir}/again.txt`), FileNotFoundError);

  await sbx.files.remove(`${dir}/m`);
  assert.equal(await sbx.files.exists(`${dir}/m`), false);
  await sbx.files.remove(`${dir}/m`); // a missing path is fine
});

test("watchDir reports changes", async () => {
  const dir = `/tmp/watch-${run}`;
  await sbx.files.makeDir(dir);
  const events = [];
  const handle = await sbx.files.watchDir(dir, (e) => events.push(e), { timeoutMs: 30_000 });
  await sbx.files.write(`${dir}/new.txt`, "x");
  await eventually(() => events.some((e) => e.name === "new.txt" && e.type === "create"));
  await sbx.commands.run(`rm ${dir}/new.txt`);
  await eventually(() => events.some((e) => e.name === "new.txt" && e.type === "remove"));
  await handle.stop();
  await assert.rejects(sbx.files.watchDir(`${dir}/nope`, () => {}), FileNotFoundError);
});

test("watchDir reports a new file as create then write, as envd does", async () => {
  const dir = `/tmp/watchw-${run}`;
  await sbx.files.makeDir(dir);
  const events = [];
  const handle = await sbx.files.watchDir(dir, (e) => events.push(e), { timeoutMs: 30_000 });
  await sbx.files.write(`${dir}/sdk.txt`, "x");
  await sbx.commands.run(`echo hi > ${dir}/sh.txt`);
  const kinds = (name) => events.filter((e) => e.name === name).map((e) => e.type);
  for (const name of ["sdk.txt", "sh.txt"]) {
    await eventually(() => kinds(name).includes("write"));
    assert.equal(kinds(name)[0], "create", `${name}: ${kinds(name)}`);
  }
  await handle.stop();
});

test("paths stay inside the sandbox", async () => {
  const passwd = await sbx.files.read("../../../../../etc/passwd");
  assert.match(passwd, /^root:x:0:0:/);
  assert.notEqual(passwd, readFileSync("/etc/passwd", "utf8"), "the host's passwd");
  const w = await sbx.files.write("../../../../tmp/escape.txt", "in");
  assert.equal(w.path, "/tmp/escape.txt");
  assert.equal((await sbx.commands.run("cat /tmp/escape.txt")).stdout, "in");
  // An absolute symlink resolves inside the sandbox too.
  await sbx.commands.run(`ln -sf / /tmp/root-link-${run}`);
  assert.match(await sbx.files.read(`/tmp/root-link-${run}/etc/passwd`), /^root:x:0:0:/);
});

test("a wrong access token is an AuthenticationError", async () => {
  const wrong = new Sandbox({
    sandboxId: sbx.sandboxId, sandboxDomain: sbx.sandboxDomain, envdAccessToken: "wrong-token", envdVersion: "0.5.7",
  });
  await assert.rejects(wrong.commands.run("true"), AuthenticationError);
  await assert.rejects(wrong.files.read("/etc/passwd"), AuthenticationError);
  await assert.rejects(wrong.files.write("/tmp/x", "x"), AuthenticationError);
  await assert.rejects(wrong.files.list("/"), AuthenticationError);
  await assert.rejects(wrong.commands.list(), AuthenticationError);
  // /health is open: the sandbox runs.
  assert.equal(await wrong.isRunning(), true);
});

test("an unknown or killed sandbox is not running", async () => {
  const ghost = new Sandbox({
    sandboxId: "i" + "0".repeat(20), sandboxDomain: sbx.sandboxDomain, envdAccessToken: "x", envdVersion: "0.5.7",
  });
  assert.equal(await ghost.isRunning(), false);
  await assert.rejects(ghost.commands.run("true"), SandboxNotFoundError);
  await assert.rejects(ghost.files.read("/etc/passwd"), TimeoutError);
  await assert.rejects(ghost.files.list("/"), TimeoutError);

  const short = await Sandbox.create(image);
  assert.equal((await short.commands.run("echo up")).stdout, "up\n");
  assert.equal(await short.kill(), true);
  assert.equal(await short.isRunning(), false);
  await assert.rejects(short.commands.run("true"), SandboxNotFoundError);
  await assert.rejects(short.files.write("/tmp/x", "x"), TimeoutError);
});

test("a command whose sandbox is killed raises TimeoutError, not CommandExitError", async () => {
  const box = await Sandbox.create(image);
  try {
    // kill -9 of itself is the command's own exit 137.
    const self = await box.commands.run("sh -c 'kill -9 $$'").catch((e) => e);
    assert.ok(self instanceof CommandExitError, `kill -9 $$: ${self}`);
    assert.equal(self.exitCode, 137);

    const handle = await box.commands.run("sleep 30", { background: true });
    const waited = handle.wait().catch((e) => e);
    assert.equal(await box.kill(), true);
    const err = await waited;
    // As with envd dying with its sandbox: the stream fails, the SDK
    // raises TimeoutError (the sandbox is gone), never an exit status.
    assert.ok(!(err instanceof CommandExitError), `wait after kill: CommandExitError ${err}`);
    assert.ok(err instanceof TimeoutError, `wait after kill: ${err?.constructor?.name}: ${err}`);
  } finally {
    await box.kill().catch(() => {});
  }
});

test("paused sandboxes do not run commands until resumed", async () => {
  const box = await Sandbox.create(image);
  try {
    assert.equal(await box.pause(), true);
    assert.equal(await box.isRunning(), false);
    await assert.rejects(box.commands.run("true"), SandboxNotFoundError);
    const resumed = await Sandbox.connect(box.sandboxId);
    assert.equal((await resumed.commands.run("echo back")).stdout, "back\n");
  } finally {
    await box.kill().catch(() => {});
  }
});

test("errors keep the SDK's classes", async () => {
  // NotFoundError is the base of FileNotFoundError.
  await assert.rejects(sbx.files.read("/definitely/not/here"), NotFoundError);
  await assert.rejects(sbx.files.read("/tmp"), (err) => err instanceof SandboxError && /directory/.test(err.message));
});
