// Shared by the SDK tests and bench/agent.mjs: the pinned E2B SDK, pointed at
// a Cove agent in one of three ways:
// - host (default): a cove-agent started here on loopback, the SDK in debug
//   mode (no control plane, it talks to one envd directly);
// - guest: COVE_E2B_URL and COVE_E2B_TOKEN name the agent of a real sandbox,
//   published on loopback by `cove run --publish 0:49983 --token-file`
//   (tests/integration/e2b_guest.sh). The SDK then uses the sandbox's access
//   token and the envd version the agent reports, as against E2B.
// - coved: COVE_E2B_COVED=1 with E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY
//   naming a coved: the SDK creates a `base` sandbox there and every call goes
//   through coved's envd routing, exactly as against E2B
//   (tests/integration/e2b_coved.sh).
// `local` does what a test needs to do beside the SDK (scratch directories,
// reading a file back, making a symlink) on whichever machine the agent runs.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const build = process.env.COVE_BUILD;

export const sdk = createRequire(`${process.env.COVE_NODE_DIR ?? `${build}/node`}/`)('e2b');

export const covedMode = process.env.COVE_E2B_COVED === '1';
export const guestMode = Boolean(process.env.COVE_E2B_URL) || covedMode;

function hostLocal() {
  return {
    mkdtemp: async (prefix) => mkdtempSync(join(tmpdir(), prefix)),
    readFile: async (p) => readFileSync(p, 'utf8'),
    symlink: async (target, link) => symlinkSync(target, link),
    rm: async (p) => rmSync(p, { recursive: true, force: true }),
  };
}

// In a guest the same steps go through the agent's process API (as root, so
// they do not depend on the files API under test).
function guestLocal(sbx) {
  const q = (s) => `'${s.replaceAll("'", "'\\''")}'`;
  const sh = async (cmd) => (await sbx.commands.run(cmd, { user: 'root' })).stdout;
  return {
    // Open to every user: the default user (`user`) works in it too.
    mkdtemp: async (prefix) => (await sh(`d=$(mktemp -d /tmp/${prefix}XXXXXX) && chmod 1777 "$d" && echo "$d"`)).trim(),
    readFile: async (p) => sh(`cat ${q(p)}`),
    symlink: async (target, link) => sh(`ln -s ${q(target)} ${q(link)}`),
    rm: async (p) => sh(`rm -rf ${q(p)}`),
  };
}

async function connectGuest() {
  const url = process.env.COVE_E2B_URL;
  const health = await fetch(`${url}/health`);
  const envdVersion = health.headers.get('x-envd-version');
  if (health.status !== 204 || !envdVersion) throw new Error(`agent at ${url}: /health answered ${health.status}`);
  const sbx = new sdk.Sandbox({
    sandboxId: 'cove-guest',
    sandboxUrl: url,
    debug: true,
    apiKey: 'cove-test',
    envdVersion,
    envdAccessToken: process.env.COVE_E2B_TOKEN,
  });
  return { agent: null, port: new URL(url).port, sbx, local: guestLocal(sbx) };
}

async function createThroughCoved() {
  const sbx = await sdk.Sandbox.create('base', { timeoutMs: 600_000 });
  const port = new URL(process.env.E2B_SANDBOX_URL).port;
  return { agent: { kill: () => sbx.kill().catch(() => {}) }, port, sbx, local: guestLocal(sbx) };
}

// Resolves to { agent, port, sbx, local } once the agent answers.
export async function startAgent() {
  if (covedMode) return createThroughCoved();
  if (guestMode) return connectGuest();
  const agent = spawn(`${build}/bin/cove-agent`, ['--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    agent.once('exit', (code) => reject(new Error(`cove-agent exited with ${code}`)));
    agent.stdout.on('data', (d) => {
      const m = /listening on port (\d+)/.exec(String(d));
      if (m) resolve(m[1]);
    });
  });
  process.env.E2B_DEBUG = 'true';
  process.env.E2B_SANDBOX_URL = `http://127.0.0.1:${port}`;
  process.env.E2B_API_KEY = 'cove-test';
  const sbx = await sdk.Sandbox.create();
  return { agent, port, sbx, local: hostLocal() };
}

// fetch() for URLs the SDK makes for plain HTTP (uploadUrl, downloadUrl).
// Behind coved they name coved's address, which cannot tell the sandbox from
// the URL alone; as with E2B's PORT-ID.DOMAIN host names, the sandbox goes in
// the Host header.
export async function plainFetch(sbx, url, init = {}) {
  if (!covedMode) return fetch(url, init);
  const req = new Request(url, init);
  const body = Buffer.from(await req.arrayBuffer());
  const u = new URL(url);
  const headers = Object.fromEntries(req.headers);
  headers.host = `49983-${sbx.sandboxId}.localhost`;
  if (body.length) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: req.method, headers }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      // A 204 or 304 has no body, and Response refuses one (even empty).
      const bodyless = res.statusCode === 204 || res.statusCode === 304;
      res.on('end', () => resolve(new Response(bodyless ? null : Buffer.concat(parts), { status: res.statusCode, headers: res.headers })));
    });
    r.on('error', reject);
    r.end(body);
  });
}
