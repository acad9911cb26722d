// The egress bench's client (bench/egress.sh runs it inside a slot's network
// namespace, so its connections are a sandbox's as the host sees them,
// without the guest's emulated CPU in the figures):
//   node egress.mjs latency URL N   N requests, each on a new connection:
//                                   one line each, ms to the response's first byte
//   node egress.mjs download URL    MiB/s of one download
//   node egress.mjs hold URL N S    N connections (TLS for https) open at once,
//                                   held S seconds, then a request on each:
//                                   prints "ok K failed F"
// HTTPS trusts $INET_CA. Host names come with --resolve-like NAME=ADDR in
// $RESOLVE, so no DNS is involved in the figures.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';

const ca = process.env.INET_CA ? readFileSync(process.env.INET_CA) : undefined;
const [name, addr] = (process.env.RESOLVE || '=').split('=');
const lookup = (host, opts, cb) => {
  if (host !== name) return cb(new Error(`no address for ${host}`));
  return opts.all ? cb(null, [{ address: addr, family: 4 }]) : cb(null, addr, 4);
};

function get(url) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = mod.get(u, { agent: false, ca, lookup, servername: u.hostname }, (res) => {
      const ttfb = Number(process.hrtime.bigint() - t0) / 1e6;
      let bytes = 0;
      res.on('data', (d) => { bytes += d.length; });
      res.on('end', () => resolve({ ttfb, bytes, ms: Number(process.hrtime.bigint() - t0) / 1e6, status: res.statusCode }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function hold(url, n, seconds) {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  const open = () => new Promise((resolve) => {
    const s = u.protocol === 'https:'
      ? tls.connect({ host: addr, port, servername: u.hostname, ca }, () => resolve(s))
      : net.connect({ host: addr, port }, () => resolve(s));
    s.on('error', () => resolve(null));
  });
  const socks = await Promise.all(Array.from({ length: n }, open));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  let ok = 0;
  await Promise.all(socks.map((s) => new Promise((resolve) => {
    if (!s) return resolve();
    let seen = '';
    s.on('data', (d) => { seen += d; if (seen.includes('\r\n\r\n') && /^HTTP\/1\.1 200/.test(seen)) { ok++; s.destroy(); resolve(); } });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.write(`GET / HTTP/1.1\r\nHost: ${u.hostname}\r\nConnection: close\r\n\r\n`);
  })));
  console.log(`ok ${ok} failed ${n - ok}`);
}

const [mode, url, a, b] = process.argv.slice(2);
if (mode === 'latency') {
  for (let i = 0; i < Number(a); i++) console.log((await get(url)).ttfb.toFixed(3));
} else if (mode === 'download') {
  const r = await get(url);
  console.log((r.bytes / 1048576 / (r.ms / 1000)).toFixed(1));
} else if (mode === 'hold') {
  await hold(url, Number(a), Number(b));
} else {
  console.error('usage: egress.mjs latency URL N | download URL | hold URL N S');
  process.exit(2);
}
