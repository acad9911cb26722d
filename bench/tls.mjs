// make bench: coved's HTTPS beside its plain HTTP, in the same run, against
// one base sandbox (bench/run.sh starts coved with --tls-local and passes
// COVED_TLS_PORT and NODE_EXTRA_CA_CERTS):
//   an envd call (commands.run('true')) through the SDK over each, on
//     connections the SDK keeps open;
//   a request on a new connection each time (envd's GET /health by Host),
//     the TLS handshake included;
//   a name asked for the first time, whose certificate coved makes during
//     the handshake (--tls-local), beside the same name asked again.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { liner } from './stats.mjs';

const build = process.env.COVE_BUILD;
const { Sandbox } = createRequire(`${process.env.COVE_NODE_DIR ?? `${build}/node`}/`)('e2b');
const RUNS = Number(process.env.BENCH_RUNS_TLS ?? 50);
const tlsPort = process.env.COVED_TLS_PORT;
const httpPort = new URL(process.env.E2B_API_URL).port;
const line = liner(40, 2);

console.log('coved over HTTPS beside HTTP (TLS 1.3, --tls-local)');
const sbx = await Sandbox.create('base');
// The SDK over HTTPS as E2B users have it: E2B_DOMAIN alone (the URLs in the
// environment would win over it).
const urls = { api: process.env.E2B_API_URL, sandbox: process.env.E2B_SANDBOX_URL };
delete process.env.E2B_API_URL;
delete process.env.E2B_SANDBOX_URL;
const overTls = await Sandbox.connect(sbx.sandboxId, { domain: `localhost:${tlsPort}` });
process.env.E2B_API_URL = urls.api;
process.env.E2B_SANDBOX_URL = urls.sandbox;

const plain = [], tls = [];
await sbx.commands.run('true');
await overTls.commands.run('true');
for (let i = 0; i < RUNS; i++) {
  let t = performance.now();
  await sbx.commands.run('true');
  plain.push(performance.now() - t);
  t = performance.now();
  await overTls.commands.run('true');
  tls.push(performance.now() - t);
}
const p = line("run('true') over HTTP", plain);
const s = line("run('true') over HTTPS", tls);
console.log(`  HTTPS adds ${(s - p).toFixed(2)} ms per call (medians, connections kept open)`);

// One request on a connection of its own, to 127.0.0.1 by the name given
// (SNI and Host), so that name resolution is not measured.
const once = (secure, name) => new Promise((resolve, reject) => {
  const t = performance.now();
  const req = (secure ? httpsRequest : httpRequest)({
    host: '127.0.0.1', port: secure ? tlsPort : httpPort, path: '/health', agent: false,
    servername: secure ? name : undefined, headers: { host: name, connection: 'close' },
  }, (res) => {
    res.resume();
    res.on('end', () => (res.statusCode < 500 || name.startsWith('1-')
      ? resolve(performance.now() - t) : reject(new Error(`${name}: ${res.statusCode}`))));
  });
  req.on('error', reject);
  req.end();
});
const envd = `49983-${sbx.sandboxId}.localhost`;
const fresh = [], freshTls = [], minted = [], again = [];
for (let i = 0; i < RUNS; i++) {
  fresh.push(await once(false, envd));
  freshTls.push(await once(true, envd));
  // A new name each time, so its certificate is made in the handshake, and
  // then the same name again (made before); it names no sandbox, so coved
  // answers 502 itself.
  const name = `1-${i}x${sbx.sandboxId}.localhost`;
  minted.push(await once(true, name));
  again.push(await once(true, name));
}
const f = line('new connection + GET /health, HTTP', fresh);
const ft = line('new connection + GET /health, HTTPS', freshTls);
const a = line('HTTPS, a name seen before (502)', again);
const m = line('HTTPS, a new name (certificate made)', minted);
console.log(`  a TLS handshake costs ${(ft - f).toFixed(2)} ms; making a certificate for a new name ` +
  `${(m - a).toFixed(2)} ms more (medians)`);
await sbx.kill();
