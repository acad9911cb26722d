// make bench: a cluster gateway's own costs (issue 18's goals), each beside
// the same thing done straight to the host in the same run. bench/cluster.sh
// starts one etcd member, a host coved (HOST_URL, with a warm pool) and a
// gateway coved (GATEWAY_URL), and passes ETCD_URL and E2B_API_KEY.
//   create     POST /sandboxes through the gateway beside straight to the
//              host that ends up owning it (interleaved; warm-pool claims,
//              so the guest's part is small): goal: p50 added <= 5 ms
//   envd call  envd's GET /health by E2b-Sandbox-Id through the gateway
//              beside straight to the host, connections kept open:
//              goal: <= 1 ms added
//   list       1,000 records of a live host in the catalog, listed through
//              the gateway from its cache as the SDK pages them (limit 100,
//              E2B's largest, then X-Next-Token): goal: all 1,000 in a
//              median <= 20 ms
import { Agent, request } from 'node:http';
import { liner } from './stats.mjs';

const key = process.env.E2B_API_KEY;
const gw = new URL(process.env.GATEWAY_URL);
const host = new URL(process.env.HOST_URL);
const etcd = process.env.ETCD_URL;
const RUNS = Number(process.env.BENCH_RUNS_CLUSTER ?? 30);
const line = liner(44, 2);
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

const call = (base, method, path, body, headers = {}) => new Promise((resolve, reject) => {
  const t = performance.now();
  const req = request({ host: base.hostname, port: base.port, method, path, agent,
    headers: { 'x-api-key': key, 'content-type': 'application/json', ...headers } }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - t,
      body: Buffer.concat(chunks).toString(), headers: res.headers }));
  });
  req.on('error', reject);
  req.end(body);
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- create ---
const create = async (base) => {
  const r = await call(base, 'POST', '/sandboxes', JSON.stringify({ templateID: 'tiny', timeout: 120 }));
  if (r.status !== 201) throw new Error(`create via ${base}: ${r.status} ${r.body}`);
  await call(host, 'DELETE', `/sandboxes/${JSON.parse(r.body).sandboxID}`);
  return r.ms;
};
await create(host); // the first of each pays for what is made once
await sleep(2000);
await create(gw);
const direct = [], through = [];
for (let i = 0; i < RUNS; i++) {
  // the warm pool refilled between creates, so each is a claim
  await sleep(1500);
  direct.push(await create(host));
  await sleep(1500);
  through.push(await create(gw));
}
console.log('cluster: a gateway beside the host it forwards to (one etcd member, loopback)');
const cd = line('create straight to the host', direct);
const cg = line('create through the gateway', through);
console.log(`  the gateway adds ${(cg - cd).toFixed(2)} ms to a create (medians; goal <= 5 ms)`);

// --- envd ---
const sb = JSON.parse((await call(host, 'POST', '/sandboxes', JSON.stringify({ templateID: 'tiny', timeout: 300 }))).body);
const envd = { 'e2b-sandbox-id': sb.sandboxID, 'e2b-sandbox-port': '49983' };
const ed = [], eg = [];
for (let i = 0; i < 20; i++) { await call(host, 'GET', '/health', undefined, envd); await call(gw, 'GET', '/health', undefined, envd); }
for (let i = 0; i < RUNS * 10; i++) {
  const a = await call(host, 'GET', '/health', undefined, envd);
  const b = await call(gw, 'GET', '/health', undefined, envd);
  if (a.status >= 300 || b.status >= 300) throw new Error(`envd /health: ${a.status} ${b.status} ${b.body}`);
  ed.push(a.ms);
  eg.push(b.ms);
}
const d = line('envd GET /health straight to the host', ed);
const g = line('envd GET /health through the gateway', eg);
console.log(`  the gateway adds ${(g - d).toFixed(2)} ms to an envd call (medians; goal <= 1 ms)`);
await call(host, 'DELETE', `/sandboxes/${sb.sandboxID}`);

// --- list: 1,000 records of a live host put straight into etcd ---
const b64 = (s) => Buffer.from(s).toString('base64');
const etcdCall = async (path, body) => {
  const r = await fetch(`${etcd}${path}`, { method: 'POST', body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`etcd ${path}: ${r.status} ${await r.text()}`);
  return r.json();
};
const h1 = await etcdCall('/v3/kv/range', { key: b64('/cove/v1/hosts/') , range_end: b64('/cove/v1/hosts0') });
const rec = JSON.parse(Buffer.from(h1.kvs[0].value, 'base64').toString());
rec.addr = '127.0.0.1:9'; // nobody forwards to it: listing only
const lease = await etcdCall('/v3/lease/grant', { TTL: 300 });
const put = await etcdCall('/v3/kv/put', { key: b64('/cove/v1/hosts/hbench'), value: b64(JSON.stringify(rec)), lease: lease.ID });
const epoch = Number(put.header.revision);
const now = Date.now();
for (let i = 0; i < 1000; i++) {
  const id = `bench${String(i).padStart(15, '0')}`;
  const v = { host: 'hbench', epoch, state: 'running', template: 'tiny', vcpus: 1, mem_mib: 256, seq: now * 1000 + i,
    started: now, end: now + 3600_000, auto_pause: false, metadata: { n: String(i), job: 'bench' } };
  await etcdCall('/v3/kv/put', { key: b64(`/cove/v1/sb/${id}`), value: b64(JSON.stringify(v)) });
}
// All 1,000, as the SDK's paginator reads them: pages of E2B's largest
// limit (100), each after the last one's X-Next-Token.
const listAll = async () => {
  const t = performance.now();
  let n = 0, token = '', pages = 0;
  do {
    const r = await call(gw, 'GET', `/v2/sandboxes?limit=100${token ? `&nextToken=${encodeURIComponent(token)}` : ''}`);
    if (r.status !== 200) throw new Error(`list: ${r.status} ${r.body}`);
    n += JSON.parse(r.body).length;
    token = r.headers['x-next-token'] ?? '';
    pages++;
  } while (token && pages < 50);
  return { n, ms: performance.now() - t };
};
let listed = 0;
for (let i = 0; i < 50 && listed < 1000; i++) { // the gateway's cache catches up
  listed = (await listAll()).n;
  if (listed < 1000) await sleep(100);
}
if (listed !== 1000) throw new Error(`the gateway lists ${listed} of 1000`);
const ls = [], page = [];
for (let i = 0; i < RUNS; i++) {
  const all = await listAll();
  if (all.n !== 1000) throw new Error(`list: ${all.n}`);
  ls.push(all.ms);
  page.push((await call(gw, 'GET', '/v2/sandboxes?limit=100')).ms);
}
line('list one page of 100 through the gateway', page);
line('list 1,000 (10 pages) through the gateway', ls);
console.log('  goal: all 1,000 in a median <= 20 ms');
await etcdCall('/v3/kv/deleterange', { key: b64('/cove/v1/sb/bench'), range_end: b64('/cove/v1/sb/benci') });
await etcdCall('/v3/lease/revoke', { ID: lease.ID });
agent.destroy();
