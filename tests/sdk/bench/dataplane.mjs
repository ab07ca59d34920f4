// make bench, dataplane part: round trips and transfers through the
// vendors' official JS SDKs against a live snapgate. cmd/snapbench runs one
// step per process and reads the JSON line each step prints on stdout; the
// timings are taken here, around the SDK call only (node start-up, sandbox
// creation, warm-up and checks are not timed).
//
//   node dataplane.mjs create   e2b|langsmith                  -> {"op":"create","id":…,"name":…}
//   node dataplane.mjs exec     e2b|langsmith REF [ws|http]    -> {"op":"exec","transport":…,"ms":[…],"cpu_ms":[…]}
//   node dataplane.mjs upload   e2b|langsmith REF              -> {"op":"upload","bytes":…,"ms":[…],"cpu_ms":[…]}
//   node dataplane.mjs download e2b|langsmith REF              -> {"op":"download","bytes":…,"ms":[…],"cpu_ms":[…]}
//   node dataplane.mjs ports    e2b REF                        -> {"op":"ports","bytes":…,"proxy_connect_ms":[…],
//                                    "direct_connect_ms":[…],"proxy_ms":[…],"direct_ms":[…]}
//     a busybox httpd in the sandbox, reached through snapgate's port proxy
//     (E2b-Sandbox-Id/-Port headers, as the SDK's getHost with
//     E2B_SANDBOX_URL) and directly at the sandbox's address from this node:
//     a small GET on a new connection each time, and BENCH_PORT_MIB MiB.
//
// REF is E2B's sandboxId or the LangSmith box name; snapbench deletes the
// sandboxes through the API itself, also when a step fails. Environment:
//   SNAPGATE_URL, SNAPGATE_API_KEY   snapgate and a key of its tenant
//   BENCH_SNAPSHOT                   snapshot id to create sandboxes from (create)
//   BENCH_WARMUP, BENCH_RUNS         unmeasured and measured repetitions
//   BENCH_SRC                        local file to upload (upload); when set,
//                                    download checks what came back against it
//   BENCH_DST                        local file downloads are written to (download)
//   BENCH_REMOTE                     path of the file inside the sandbox
//
// LangSmith's sandbox.run uses the WebSocket exec when the optional `ws`
// package is importable, else POST /execute. `ws` is installed here, so the
// default is "ws"; "http" hides it with a resolve hook before the SDK loads.
import { register } from "node:module";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import http from "node:http";
import { pipeline } from "node:stream/promises";

const [op, vendor, ref, transport = vendor === "langsmith" ? "ws" : "connect-rpc"] = process.argv.slice(2);
const env = process.env;
const need = (k) => {
  if (!env[k]) throw new Error(`${k} must be set (this script is run by cmd/snapbench)`);
  return env[k];
};
const url = need("SNAPGATE_URL");
const key = need("SNAPGATE_API_KEY");
const warmup = Number(env.BENCH_WARMUP ?? 0);
const runs = Number(env.BENCH_RUNS ?? 1);
const out = (obj) => process.stdout.write(JSON.stringify({ op, vendor, ...obj }) + "\n");

if (vendor === "langsmith" && transport === "http") {
  register(
    "data:text/javascript," +
      encodeURIComponent(`export async function resolve(specifier, context, next) {
        if (specifier === "ws") throw Object.assign(new Error("ws hidden by snapbench"), { code: "ERR_MODULE_NOT_FOUND" });
        return next(specifier, context);
      }`),
  );
}

// The way users configure each SDK: E2B_API_URL + E2B_SANDBOX_URL (envd is
// routed by the E2b-Sandbox-Id header), LANGSMITH_ENDPOINT + LANGSMITH_API_KEY.
Object.assign(env, {
  E2B_API_URL: url, E2B_SANDBOX_URL: url, E2B_API_KEY: key,
  LANGSMITH_ENDPOINT: url, LANGSMITH_API_KEY: key,
});
delete env.E2B_DEBUG;
delete env.E2B_DOMAIN;

// sdk is one vendor's operations behind the same names.
async function sdk() {
  if (vendor === "e2b") {
    const { Sandbox } = await import("e2b");
    const box = () => Sandbox.connect(ref);
    return {
      create: async () => {
        const s = await Sandbox.create(need("BENCH_SNAPSHOT"), { timeoutMs: 3_600_000 });
        return { id: s.sandboxId, name: s.sandboxId };
      },
      box,
      exec: async (s) => {
        const r = await s.commands.run("true");
        if (r.exitCode !== 0) throw new Error(`true exited ${r.exitCode}`);
      },
      // A ReadableStream goes up as one octet-stream body, not buffered.
      upload: (s, src, remote) => s.files.write(remote, Readable.toWeb(createReadStream(src))),
      download: async (s, remote, dst) => {
        const body = await s.files.read(remote, { format: "stream", requestTimeoutMs: 600_000 });
        await pipeline(Readable.fromWeb(body), createWriteStream(dst));
      },
    };
  }
  if (vendor === "langsmith") {
    const { SandboxClient } = await import("langsmith/sandbox");
    const client = new SandboxClient();
    const box = async () => {
      const s = await client.getSandbox(ref);
      const ws = await s._wsAvailable(); // internal, but exactly the SDK's choice of transport
      if (ws !== (transport === "ws")) throw new Error(`the SDK would use ${ws ? "ws" : "http"}, not ${transport}`);
      return s;
    };
    return {
      create: async () => {
        const s = await client.createSandbox(need("BENCH_SNAPSHOT"), { name: `snapbench-${process.pid}-${Date.now()}`, timeout: 120 });
        return { id: s.id, name: s.name };
      },
      box,
      exec: async (s) => {
        const r = await s.run("true");
        if (r.exit_code !== 0) throw new Error(`true exited ${r.exit_code}: ${r.stderr}`);
      },
      // The SDK takes the content as bytes (and copies it into a Blob for
      // its multipart body), so reading the file is part of the user's cost.
      upload: async (s, src, remote) => s.write(remote, await readFile(src), 600),
      download: async (s, remote, dst) => writeFile(dst, await s.read(remote, 600)),
    };
  }
  throw new Error(`unknown vendor ${vendor} (e2b, langsmith)`);
}

// timed runs fn n times: wall time and this process's CPU time (user +
// system, which shows how much of a transfer is the SDK's own work), in ms.
async function timed(n, fn) {
  const ms = [];
  const cpu_ms = [];
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu_ms.push((c.user + c.system) / 1000);
  }
  return { ms, cpu_ms };
}

async function sha256(path) {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk);
  return h.digest("hex");
}

// warmTransfers moves a small file up and back a few times, untimed, so the
// timed transfer finds the SDK's code compiled and its connection open (the
// steady state of a process that transfers files, not node's cold start).
async function warmTransfers(v, s, remote) {
  const dir = await mkdtemp(join(tmpdir(), "snapbench-"));
  try {
    await writeFile(join(dir, "up"), randomBytes(256 << 10));
    for (let i = 0; i < 3; i++) {
      await v.upload(s, join(dir, "up"), `${remote}.warm`);
      await v.download(s, `${remote}.warm`, join(dir, "down"));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// get fetches url on a connection of its own and returns the bytes read.
function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      let n = 0;
      res.on("data", (c) => (n += c.length));
      res.on("end", () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

async function ports(s) {
  const mib = Number(env.BENCH_PORT_MIB ?? 64);
  const port = 8000;
  const r = await s.commands.run(
    `mkdir -p /tmp/www && echo ok > /tmp/www/small && head -c ${mib << 20} /dev/urandom > /tmp/www/big && ` +
      `(httpd -p ${port} -h /tmp/www || true) && tail -n 1 /etc/hosts`,
    { user: "root" },
  );
  const addr = r.stdout.trim().split(/\s+/)[0];
  const proxy = (path) => get(url + path, { "E2b-Sandbox-Id": s.sandboxId, "E2b-Sandbox-Port": String(port) });
  const direct = (path) => get(`http://${addr}:${port}${path}`);
  for (const f of [proxy, direct]) for (let i = 0; i < 3; i++) await f("/small");
  const pc = await timed(runs * 10, () => proxy("/small"));
  const dc = await timed(runs * 10, () => direct("/small"));
  const pb = await timed(runs, () => proxy("/big"));
  const db = await timed(runs, () => direct("/big"));
  return { bytes: mib << 20, proxy_connect_ms: pc.ms, direct_connect_ms: dc.ms, proxy_ms: pb.ms, direct_ms: db.ms };
}

async function main() {
  const v = await sdk();
  switch (op) {
    case "create":
      return out(await v.create());
    case "exec": {
      const s = await v.box();
      await timed(warmup, () => v.exec(s));
      return out({ transport, ...(await timed(runs, () => v.exec(s))) });
    }
    case "upload": {
      const s = await v.box();
      const src = need("BENCH_SRC");
      const remote = need("BENCH_REMOTE");
      const bytes = (await stat(src)).size;
      const up = () => v.upload(s, src, remote);
      await warmTransfers(v, s, remote);
      await timed(warmup, up);
      return out({ bytes, ...(await timed(runs, up)) });
    }
    case "download": {
      const s = await v.box();
      const remote = need("BENCH_REMOTE");
      const dst = need("BENCH_DST");
      const down = () => v.download(s, remote, dst);
      await warmTransfers(v, s, remote);
      await timed(warmup, down);
      const t = await timed(runs, down);
      // What came back is what went up (BENCH_SRC): checked, not timed.
      const bytes = (await stat(dst)).size;
      if (env.BENCH_SRC && (await sha256(dst)) !== (await sha256(env.BENCH_SRC))) {
        throw new Error(`${remote} came back different from ${env.BENCH_SRC}`);
      }
      return out({ bytes, ...t });
    }
    case "ports":
      if (vendor !== "e2b") throw new Error("ports: e2b only");
      return out(await ports(await v.box()));
    default:
      throw new Error(`unknown step ${op} (create, exec, upload, download, ports)`);
  }
}

main().catch((err) => {
  process.stderr.write(`dataplane.mjs ${op} ${vendor}: ${err?.stack ?? err}\n`);
  process.exit(1);
});
