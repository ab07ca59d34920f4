// What the E2B contract tests share: the environment tests/sdk/run.sh
// gives them, pointed at snapgate the way users point the SDK at a
// self-hosted API (E2B_API_URL for the control plane, E2B_SANDBOX_URL for
// envd, E2B_API_KEY), and templates built through LangSmith's snapshot API
// (one snapshot namespace serves both vendors).

// env checks that names are set and returns their values, after pointing
// the E2B SDK at SNAPGATE_URL with SNAPGATE_API_KEY.
export function env(...names) {
  const out = {};
  for (const k of ["SNAPGATE_URL", "SNAPGATE_API_KEY", ...names]) {
    if (!process.env[k]) throw new Error(`${k} must be set (run through tests/sdk/run.sh)`);
    out[k] = process.env[k];
  }
  process.env.E2B_API_URL = out.SNAPGATE_URL;
  process.env.E2B_SANDBOX_URL = out.SNAPGATE_URL;
  process.env.E2B_API_KEY = out.SNAPGATE_API_KEY;
  delete process.env.E2B_DEBUG;
  delete process.env.E2B_DOMAIN;
  return out;
}

// runId tells this run's names from other runs'.
export const runId = `${process.pid}-${Math.floor(Math.random() * 1e9)}`;

// api calls snapgate's HTTP API with tenant A's key and parses the answer.
export async function api(method, path, body) {
  const res = await fetch(process.env.SNAPGATE_URL + path, {
    method,
    headers: { "X-Api-Key": process.env.SNAPGATE_API_KEY, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

// template builds a snapshot of image (with LangSmith's create fields in
// extra) and waits until it is ready; its id serves as an E2B template.
export async function template(name, image, extra = {}) {
  const created = await api("POST", "/api/v2/sandboxes/snapshots", {
    name, docker_image: image, fs_capacity_bytes: 1 << 30, ...extra,
  });
  if (created.status !== 201) throw new Error(`create snapshot ${name}: ${created.status} ${JSON.stringify(created.body)}`);
  let snap = created.body;
  for (const deadline = Date.now() + 180_000; snap.status === "building" && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 300));
    snap = (await api("GET", `/api/v2/sandboxes/snapshots/${snap.id}`)).body;
  }
  if (snap.status !== "ready") throw new Error(`snapshot ${name} did not become ready: ${JSON.stringify(snap)}`);
  return snap.id;
}
