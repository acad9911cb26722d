// The test internet's web servers (tests/inet.sh starts it in the lab's
// namespace): HTTP and HTTPS on each address given, answering every request
// with what it saw, as JSON:
//   {"host": Host header, "sni": TLS server name (null over HTTP),
//    "tls": bool, "method", "path", "headers": {...}, "bodyBytes": N,
//    "local": {"address", "port"}: where it was reached}
// so a test can tell which name a client asked for and whether anything in
// between (a proxy) changed the request. GET /big?mib=N sends N MiB instead
// (for throughput checks); GET /hash answers the headers' SHA-256 digests
// only (to check a secret a proxy set without sending it to the client).
//
//   node echo.mjs --cert FILE --key FILE [--http-port 80] [--https-port 443] ADDR...
//
// Prints "echo: listening" once every socket is bound; a line per request
// after that.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';

const BIG_MAX_MIB = 4096;
const CHUNK = Buffer.alloc(1024 * 1024);

const { values: opt, positionals: addresses } = parseArgs({
  options: {
    cert: { type: 'string' },
    key: { type: 'string' },
    'http-port': { type: 'string', default: '80' },
    'https-port': { type: 'string', default: '443' },
  },
  allowPositionals: true,
});
if (!opt.cert || !opt.key || addresses.length === 0) {
  console.error('usage: node echo.mjs --cert FILE --key FILE [--http-port P] [--https-port P] ADDR...');
  process.exit(2);
}

// N MiB of zeros, written as the socket drains.
function sendBig(res, mib) {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': mib * CHUNK.length });
  let left = mib;
  const more = () => {
    while (left > 0) {
      left--;
      if (!res.write(CHUNK)) return res.once('drain', more);
    }
    res.end();
  };
  more();
}

function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const tls = Boolean(req.socket.encrypted);
  console.log(`echo: ${tls ? 'https' : 'http'} ${req.socket.localAddress} ${req.method} ${req.headers.host} ${req.url}`);
  if (url.pathname === '/big') {
    const mib = Number(url.searchParams.get('mib') ?? '1');
    if (!Number.isInteger(mib) || mib < 0 || mib > BIG_MAX_MIB) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      return res.end(`mib must be an integer from 0 to ${BIG_MAX_MIB}\n`);
    }
    return sendBig(res, mib);
  }
  if (url.pathname === '/hash') {
    // The request's headers as SHA-256 digests, never the values: a test
    // can check what a proxy set without the value reaching the client.
    const digests = {};
    for (const [k, v] of Object.entries(req.headers)) digests[k] = createHash('sha256').update(String(v)).digest('hex');
    const body = JSON.stringify({ host: req.headers.host ?? null, tls, digests });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    return res.end(body);
  }
  let bodyBytes = 0;
  req.on('data', (d) => (bodyBytes += d.length));
  req.on('end', () => {
    const body = JSON.stringify({
      host: req.headers.host ?? null,
      sni: tls ? req.socket.servername || null : null,
      tls,
      method: req.method,
      path: req.url,
      headers: req.headers,
      bodyBytes,
      local: { address: req.socket.localAddress, port: req.socket.localPort },
    });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
}

const tlsOptions = { cert: readFileSync(opt.cert), key: readFileSync(opt.key) };
const listening = [];
for (const address of addresses) {
  const plain = http.createServer(handle);
  const secure = https.createServer(tlsOptions, handle);
  for (const [server, port] of [
    [plain, Number(opt['http-port'])],
    [secure, Number(opt['https-port'])],
  ]) {
    listening.push(
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, address, resolve);
      }),
    );
  }
}
Promise.all(listening).then(
  () => console.log('echo: listening'),
  (e) => {
    console.error(`echo: ${e.message}`);
    process.exit(1);
  },
);
