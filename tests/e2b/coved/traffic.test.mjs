// Private sandbox URLs through the official E2B JS SDK against a real coved
// (tests/integration/e2b_coved.sh starts it): network.allowPublicTraffic
// false gives the sandbox a trafficAccessToken, and coved's routing relays
// a request to its ports (all but envd's) only with it in
// e2b-traffic-access-token, else 403 with E2B's proxy's body; maskRequestHost
// is the Host its servers see. Through a pause/resume, a SIGKILLed and
// restarted coved (COVE_RESTART_COVED, from e2b_coved.sh), a fork and a
// snapshot. A server in the guest echoes the headers it got. network.httpsPorts
// (at the end): the listed ports' servers speak HTTPS, and the routing
// reaches them over TLS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';

const { Sandbox } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
const template = 'base';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const made = [];
const PORT = 8000;
const TOKEN = 'e2b-traffic-access-token';

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
});

async function create(tpl, opts) {
  const sbx = await Sandbox.create(tpl, opts);
  made.push(sbx.sandboxId);
  return sbx;
}

// GET / of port of a sandbox through coved, by Host (PORT-ID.localhost,
// as E2B's URLs) or by E2b-Sandbox-Id/-Port headers (as the code
// interpreter SDK sends), with these extra headers.
function get(sandboxId, port, headers = {}, byHeader = false) {
  const api = new URL(process.env.E2B_API_URL);
  const route = byHeader
    ? { 'E2b-Sandbox-Id': sandboxId, 'E2b-Sandbox-Port': String(port) }
    : { host: `${port}-${sandboxId}.localhost` };
  return new Promise((resolve, reject) => {
    const req = request({ host: api.hostname, port: api.port, path: '/', headers: { ...route, ...headers } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// What the echo server saw: its Host, X-Forwarded-Host and whether a
// traffic token reached it.
const seen = (body) => JSON.parse(body);

const ECHO = `
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        h = self.headers
        b = json.dumps({'host': h.get('Host'), 'forwarded': h.get('X-Forwarded-Host'),
                        'token': h.get('${TOKEN}')}).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(('0.0.0.0', ${PORT}), H).serve_forever()
`;

// The echo server started in sbx, answering (with the token when private).
async function serve(sbx) {
  await sbx.files.write('/tmp/echo.py', ECHO);
  await sbx.commands.run('nohup python3 /tmp/echo.py >/dev/null 2>&1 &');
  const headers = sbx.trafficAccessToken ? { [TOKEN]: sbx.trafficAccessToken } : {};
  for (let i = 0; i < 200; i++) {
    if ((await get(sbx.sandboxId, PORT, headers)).status === 200) return;
    await sleep(100);
  }
  assert.fail('the echo server never answered');
}

// A private sandbox refuses a request without its token and one with
// another, as E2B's proxy does, and serves one with it.
async function assertPrivate(id, token, what) {
  const none = await get(id, PORT);
  assert.equal(none.status, 403, `${what}: without the token`);
  assert.deepEqual(JSON.parse(none.body), {
    sandboxId: id,
    code: 403,
    message: `Sandbox is secured with traffic access token. Token header '${TOKEN}' is missing`,
  });
  const wrong = await get(id, PORT, { [TOKEN]: 'f'.repeat(64) });
  assert.equal(wrong.status, 403, `${what}: with a wrong token`);
  assert.match(JSON.parse(wrong.body).message, /Provided token in header 'e2b-traffic-access-token' is invalid/);
  const right = await get(id, PORT, { [TOKEN]: token });
  assert.equal(right.status, 200, `${what}: with the token: ${right.body}`);
  return seen(right.body);
}

const masked = { allowPublicTraffic: false, maskRequestHost: '${PORT}-x.example' };

test('allowPublicTraffic false: a trafficAccessToken, asked for on every port but envd', async () => {
  const sbx = await create(template, { network: masked });
  assert.equal(typeof sbx.trafficAccessToken, 'string');
  assert.match(sbx.trafficAccessToken, /^[0-9a-f]{64}$/);
  await serve(sbx);
  const got = await assertPrivate(sbx.sandboxId, sbx.trafficAccessToken, 'by host');
  // maskRequestHost, ${PORT} filled in; the Host asked for in
  // X-Forwarded-Host (E2B's); the token is not relayed to the guest.
  assert.deepEqual(got, { host: `${PORT}-x.example`, forwarded: `${PORT}-${sbx.sandboxId}.localhost`, token: null });
  // The code interpreter SDK's way (E2b-Sandbox-Id/-Port headers) too.
  assert.equal((await get(sbx.sandboxId, PORT, {}, true)).status, 403);
  assert.equal((await get(sbx.sandboxId, PORT, { [TOKEN]: sbx.trafficAccessToken }, true)).status, 200);
  // envd's port keeps its own access token alone (E2B's rule): the SDK
  // needs no traffic token for commands and files.
  assert.equal((await sbx.commands.run('echo hi')).stdout, 'hi\n');
  assert.notEqual((await get(sbx.sandboxId, 49983)).status, 403);
  // getInfo reports the ingress, never the token (E2B's SandboxDetail has none).
  const info = await sbx.getInfo();
  assert.equal(info.network.allowPublicTraffic, false);
  assert.equal(info.network.maskRequestHost, '${PORT}-x.example');
  assert.equal(JSON.stringify(info).includes(sbx.trafficAccessToken), false);
});

test('a public sandbox needs no token, and its Host is as before', async () => {
  const sbx = await create(template);
  assert.equal(sbx.trafficAccessToken, undefined);
  await serve(sbx);
  const res = await get(sbx.sandboxId, PORT);
  assert.equal(res.status, 200);
  const got = seen(res.body);
  assert.match(got.host, new RegExp(`:${PORT}$`));
  assert.equal(got.forwarded, null);
  const info = await sbx.getInfo();
  assert.equal(info.network.allowPublicTraffic, true);
  assert.equal(info.network.maskRequestHost, undefined);
});

test('after a pause and a resume: the same token, still asked for', async () => {
  const sbx = await create(template, { network: masked });
  await serve(sbx);
  assert.equal(await Sandbox.pause(sbx.sandboxId), true);
  assert.equal((await get(sbx.sandboxId, PORT, { [TOKEN]: sbx.trafficAccessToken })).status, 502, 'paused');
  const again = await Sandbox.connect(sbx.sandboxId);
  assert.equal(again.trafficAccessToken, sbx.trafficAccessToken);
  const got = await assertPrivate(sbx.sandboxId, sbx.trafficAccessToken, 'resumed');
  assert.equal(got.host, `${PORT}-x.example`);
});

test('auto-resume: only a request with the traffic token wakes a private sandbox', async () => {
  const sbx = await create(template, { network: masked, lifecycle: { onTimeout: 'pause', autoResume: true } });
  await serve(sbx);
  assert.equal(await Sandbox.pause(sbx.sandboxId), true);
  const denied = await get(sbx.sandboxId, PORT);
  assert.equal(denied.status, 403);
  assert.match(JSON.parse(denied.body).message, /can't be resumed with the credentials provided/);
  assert.equal((await Sandbox.getInfo(sbx.sandboxId)).state, 'paused', 'a request without the token leaves it paused');
  assert.equal((await get(sbx.sandboxId, PORT, { [TOKEN]: sbx.trafficAccessToken })).status, 200);
  assert.equal((await Sandbox.getInfo(sbx.sandboxId)).state, 'running');
});

test('a fork is private too, with a token of its own', async () => {
  const sbx = await create(template, { network: masked });
  await serve(sbx);
  const [child] = await sbx.fork({ timeoutMs: 60_000 });
  assert.ok(!(child instanceof Error), String(child));
  made.push(child.sandboxId);
  assert.match(child.trafficAccessToken, /^[0-9a-f]{64}$/);
  assert.notEqual(child.trafficAccessToken, sbx.trafficAccessToken);
  // The fork carries on the parent's server.
  const got = await assertPrivate(child.sandboxId, child.trafficAccessToken, 'fork');
  assert.equal(got.host, `${PORT}-x.example`);
  assert.equal((await get(child.sandboxId, PORT, { [TOKEN]: sbx.trafficAccessToken })).status, 403, "the parent's token");
  await assertPrivate(sbx.sandboxId, sbx.trafficAccessToken, 'the parent after the fork');
});

test('from a snapshot: private when the create asks for it, with a token of its own', async () => {
  const sbx = await create(template);
  await serve(sbx);
  const snap = await sbx.createSnapshot();
  const priv = await create(snap.snapshotId, { network: { allowPublicTraffic: false } });
  assert.match(priv.trafficAccessToken, /^[0-9a-f]{64}$/);
  const got = await assertPrivate(priv.sandboxId, priv.trafficAccessToken, 'from the snapshot');
  assert.match(got.host, new RegExp(`:${PORT}$`), 'no mask asked for');
  const pub = await create(snap.snapshotId);
  assert.equal(pub.trafficAccessToken, undefined);
  assert.equal((await get(pub.sandboxId, PORT)).status, 200);
  await Sandbox.deleteSnapshot(snap.snapshotId).catch(() => {});
});

test('after coved is SIGKILLed and restarted: the same token, still asked for', { skip: !process.env.COVE_RESTART_COVED && 'COVE_RESTART_COVED is unset (tests/integration/e2b_coved.sh sets it)' }, async () => {
  const sbx = await create(template, { network: masked });
  await serve(sbx);
  const url = execFileSync('bash', ['-c', process.env.COVE_RESTART_COVED], { encoding: 'utf8' }).trim();
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  process.env.E2B_API_URL = url;
  process.env.E2B_SANDBOX_URL = url;
  const again = await Sandbox.connect(sbx.sandboxId);
  assert.equal(again.trafficAccessToken, sbx.trafficAccessToken);
  const got = await assertPrivate(sbx.sandboxId, sbx.trafficAccessToken, 'after the restart');
  assert.equal(got.host, `${PORT}-x.example`);
  const info = await Sandbox.getInfo(sbx.sandboxId);
  assert.equal(info.network.allowPublicTraffic, false);
  assert.equal(info.network.maskRequestHost, '${PORT}-x.example');
});

// --- network.httpsPorts ---
// A port listed there is one whose server in the guest speaks HTTPS itself:
// coved's routing reaches it over TLS (E2B's proxy's hop: the guest's
// self-signed certificate not verified, no SNI, HTTP/1.1), a request to it
// by sbx.getHost(port) as to any other. Servers on 8000 and 8001 speak
// plain HTTP, on 8443 and 9443 HTTPS; 8443 and 8001 are listed, so 8001
// and 9443 are each spoken to in the wrong language.
const HTTPS_PORTS = [8443, 8001];
const TLS_SERVERS = `
import http.server, json, ssl, threading
sni = {}
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, got):
        tls = isinstance(self.connection, ssl.SSLSocket)
        port = self.server.server_address[1]
        if self.path == '/big':
            b = b'x' * (1 << 20)
        else:
            b = json.dumps({'port': port, 'tls': tls, 'host': self.headers.get('Host'), 'got': got.decode(),
                            'alpn': self.connection.selected_alpn_protocol() if tls else None,
                            'sni': sni.get(port)}).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def do_GET(self):
        self.answer(b'')
    def do_POST(self):
        self.answer(self.rfile.read(int(self.headers.get('Content-Length') or 0)))
    def log_message(self, *a):
        pass
def serve(port, tls):
    s = http.server.ThreadingHTTPServer(('0.0.0.0', port), H)
    if tls:
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        c.load_cert_chain('/tmp/cert.pem', '/tmp/key.pem')
        c.set_alpn_protocols(['h2', 'http/1.1'])
        c.sni_callback = lambda sock, name, ctx, port=port: sni.__setitem__(port, name)
        s.socket = c.wrap_socket(s.socket, server_side=True)
    threading.Thread(target=s.serve_forever, daemon=True).start()
for port, tls in ((8000, False), (8001, False), (8443, True), (9443, True)):
    serve(port, tls)
threading.Event().wait()
`;

// METHOD / (or path) of port of sbx through coved, addressed by the
// name sbx.getHost(port) gives (its domain coved's, localhost).
function viaHost(sbx, port, { method = 'GET', path = '/', body } = {}) {
  const api = new URL(process.env.E2B_API_URL);
  const headers = { host: sbx.getHost(port) };
  if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
  return new Promise((resolve, reject) => {
    const req = request({ host: api.hostname, port: api.port, method, path, headers }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// The servers started in sbx, with a self-signed certificate made there.
async function serveTls(sbx) {
  const cert = await sbx.commands.run(
    'openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout /tmp/key.pem -out /tmp/cert.pem',
  );
  assert.equal(cert.exitCode, 0);
  await sbx.files.write('/tmp/tls_servers.py', TLS_SERVERS);
  await sbx.commands.run('nohup python3 /tmp/tls_servers.py >/tmp/tls_servers.log 2>&1 &');
  for (let i = 0; i < 200; i++) {
    if ((await viaHost(sbx, 8443)).status === 200) return;
    await sleep(100);
  }
  assert.fail(`the servers never answered: ${(await sbx.commands.run('cat /tmp/tls_servers.log')).stdout}`);
}

// 8443 answers over TLS, 8000 over plain HTTP; 9443 (TLS, not listed) and
// 8001 (plain, listed) are 502s, as any guest that answers nothing the
// routing can read.
async function assertHttpsPorts(sbx, what) {
  const tls = await viaHost(sbx, 8443);
  assert.equal(tls.status, 200, `${what}: 8443: ${tls.body}`);
  // The request as the guest got it: over TLS, no SNI (E2B's proxy dials an
  // IP address), HTTP/1.1 picked by ALPN of the h2 and http/1.1 offered.
  assert.deepEqual(JSON.parse(tls.body), { port: 8443, tls: true, host: `169.254.0.21:8443`, got: '', alpn: 'http/1.1', sni: null });
  const posted = await viaHost(sbx, 8443, { method: 'POST', body: 'a body, over TLS too' });
  assert.equal(JSON.parse(posted.body).got, 'a body, over TLS too', what);
  const big = await viaHost(sbx, 8443, { path: '/big' });
  assert.equal(big.status, 200, what);
  assert.equal(big.body, 'x'.repeat(1 << 20), `${what}: a MiB over TLS`);
  const plain = await viaHost(sbx, 8000);
  assert.equal(plain.status, 200, what);
  assert.equal(JSON.parse(plain.body).tls, false, what);
  const notListed = await viaHost(sbx, 9443);
  assert.equal(notListed.status, 502, `${what}: a TLS server on a port not listed: ${notListed.body}`);
  const notTls = await viaHost(sbx, 8001);
  assert.equal(notTls.status, 502, `${what}: a plain server on a listed port: ${notTls.body}`);
  assert.match(JSON.parse(notTls.body).message, /port 8001 is in httpsPorts: TLS handshake: /, what);
}

test('httpsPorts: a listed port is reached over TLS, the others as before; getInfo reports them', async () => {
  const sbx = await create(template, { domain: 'localhost', network: { httpsPorts: HTTPS_PORTS } });
  await serveTls(sbx);
  await assertHttpsPorts(sbx, 'created');
  assert.deepEqual((await sbx.getInfo()).network.httpsPorts, HTTPS_PORTS);
  // A sandbox without them has none in its info (as maskRequestHost).
  const other = await Sandbox.getInfo(made[0]);
  assert.equal(other.network.httpsPorts, undefined);
  // Through a pause and a resume, and in a fork (its servers go on).
  assert.equal(await Sandbox.pause(sbx.sandboxId), true);
  const again = await Sandbox.connect(sbx.sandboxId, { domain: 'localhost' });
  await assertHttpsPorts(again, 'resumed');
  const [child] = await again.fork({ timeoutMs: 60_000 });
  assert.ok(!(child instanceof Error), String(child));
  made.push(child.sandboxId);
  assert.deepEqual((await Sandbox.getInfo(child.sandboxId)).network.httpsPorts, HTTPS_PORTS);
  await assertHttpsPorts({ getHost: (port) => `${port}-${child.sandboxId}.localhost` }, 'fork');
});

test('httpsPorts: not distinct port numbers from 1 to 65535 (envd\'s excepted): 400 naming the entry', async () => {
  const bad = [
    [[0], /network\.httpsPorts\[0\] must be a port number from 1 to 65535/],
    [[443, 70000], /network\.httpsPorts\[1\] must be a port number/],
    [['x'], /network\.httpsPorts\[0\] must be a port number/],
    [[8443, 8443], /network\.httpsPorts\[1\]: port 8443 is listed twice/],
    [[49983], /network\.httpsPorts\[0\]: 49983 is envd's port/],
  ];
  for (const [ports, want] of bad)
    await assert.rejects(create(template, { network: { httpsPorts: ports } }), (e) => {
      assert.match(e.message, want, JSON.stringify(ports));
      assert.match(e.message, /400/, JSON.stringify(ports));
      return true;
    });
});

test('httpsPorts after coved is SIGKILLed and restarted: kept in the record', { skip: !process.env.COVE_RESTART_COVED && 'COVE_RESTART_COVED is unset (tests/integration/e2b_coved.sh sets it)' }, async () => {
  const sbx = await create(template, { domain: 'localhost', network: { httpsPorts: HTTPS_PORTS } });
  await serveTls(sbx);
  const url = execFileSync('bash', ['-c', process.env.COVE_RESTART_COVED], { encoding: 'utf8' }).trim();
  process.env.E2B_API_URL = url;
  process.env.E2B_SANDBOX_URL = url;
  await assertHttpsPorts(sbx, 'after the restart');
  assert.deepEqual((await Sandbox.getInfo(sbx.sandboxId)).network.httpsPorts, HTTPS_PORTS);
});
