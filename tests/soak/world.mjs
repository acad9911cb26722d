// The soak's world (tests/soak/soak.mjs): the coved it runs as its own
// child (started, SIGKILLed and started again on the same port, state and
// key), commands run with explicit argv, coved's state database read-only
// through sqlite3, the seeded random numbers, and the log of operations a
// violation is reported with.
import { spawn, execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';

// run(file, args, {timeoutMs, env, input}) -> {code, stdout, stderr}; never throws.
export function run(file, args, opts = {}) {
  return new Promise((resolve) => {
    const child = execFile(file, args, {
      timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL', maxBuffer: 64 << 20,
      env: { ...process.env, ...(opts.env ?? {}) },
    }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : err.signal ? 128 : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err && err.killed ? ' (timed out)' : '') });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
  });
}

// mulberry32: small, fast and the same sequence for the same seed anywhere.
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    chance: (p) => next() < p,
    shuffle: (xs) => {
      const v = [...xs];
      for (let i = v.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [v[i], v[j]] = [v[j], v[i]];
      }
      return v;
    },
    // weighted({a: 3, b: 1}) -> 'a' three times as often as 'b'
    weighted: (w) => {
      const total = Object.values(w).reduce((s, x) => s + x, 0);
      let r = next() * total;
      for (const [k, x] of Object.entries(w)) if ((r -= x) < 0) return k;
      return Object.keys(w)[0];
    },
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A free loopback port, so that a restarted coved answers where the SDK's
// sandbox objects already point.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// The last n lines of a file ('' when there is none).
export function tail(path, n) {
  if (!existsSync(path)) return '';
  return readFileSync(path, 'utf8').split('\n').slice(-n - 1).join('\n');
}

// coved as the soak's own child: start() waits for "listening", crash()
// is SIGKILL, and each start appends to the same log.
export class Coved {
  constructor({ bin, stateDir, port, key, log, flags, pidFile }) {
    Object.assign(this, { bin, stateDir, port, key, log, flags, pidFile });
    this.child = null;
    this.starts = 0;
    this.url = `http://127.0.0.1:${port}`;
  }

  async start() {
    const { openSync, closeSync } = await import('node:fs');
    const fd = openSync(this.log, 'a');
    const args = ['--listen', `127.0.0.1:${this.port}`, '--state-dir', this.stateDir, '--api-key', this.key, ...this.flags];
    this.child = spawn(this.bin, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    writeFileSync(this.pidFile, `${this.child.pid}\n`);
    this.starts++;
    const child = this.child;
    child.exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
    child.gone = false;
    child.exited.then(() => { child.gone = true; });
    // Ready when it answers (its recovery done): a 401 without the key.
    for (let i = 0; i < 1200; i++) {
      if (child.gone) throw new Error(`coved exited at start: ${tail(this.log, 15)}`);
      try {
        const r = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) });
        if (r.status) return;
      } catch { /* not yet */ }
      await sleep(50);
    }
    throw new Error(`coved did not answer within 60 s: ${tail(this.log, 15)}`);
  }

  alive() { return this.child && !this.child.gone; }
  pid() { return this.child?.pid; }

  async crash() {
    if (!this.alive()) return;
    this.child.kill('SIGKILL');
    await this.child.exited;
  }

  async stop() {
    if (!this.alive()) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
    await this.child.exited;
    clearTimeout(t);
  }

  // An API call: {status, body (parsed JSON or text)}; status 0 when it
  // could not be made.
  async api(method, path, body) {
    try {
      const r = await fetch(`${this.url}${path}`, {
        method, signal: AbortSignal.timeout(120_000),
        headers: { 'X-API-KEY': this.key, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      let parsed = text;
      try { parsed = JSON.parse(text); } catch { /* text */ }
      return { status: r.status, body: parsed };
    } catch (e) {
      return { status: 0, body: String(e.cause?.code ?? e.message) };
    }
  }
}

// Rows of a query on coved's database, opened read-only (coved keeps
// writing it: WAL lets the reader see the last commit). null when it could
// not be read.
export async function dbQuery(db, sql) {
  const r = await run('sqlite3', ['-readonly', '-json', '-cmd', '.timeout 5000', db, sql], { timeoutMs: 20_000 });
  if (r.code !== 0) return null;
  return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

// The operations so far, the last of which a violation is shown with.
// Every line also goes to the file at path (SOAK_BASE/ops.log).
export class OpLog {
  constructor(keep, path) { this.keep = keep; this.path = path; this.lines = []; }
  add(line) {
    const stamped = `${new Date().toISOString()} ${line}`;
    appendFileSync(this.path, `${stamped}\n`);
    this.lines.push(stamped);
    if (this.lines.length > this.keep) this.lines.shift();
  }
  dump() { return this.lines.join('\n'); }
}
