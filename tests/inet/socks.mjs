// A small SOCKS5 server (RFC 1928, CONNECT only, with RFC 1929's username
// and password when given) for the egress tests: the user's own upstream
// proxy that coved's egress proxy dials allowed connections through
// (network.egressProxy). Runs inside the test internet's namespace; names
// are resolved by the lab's DNS server. One line per CONNECT on stdout:
//   socks: CONNECT HOST:PORT user=USER
//   node socks.mjs ADDR PORT DNS [USER PASS]
import net from 'node:net';
import { Resolver } from 'node:dns/promises';

const [addr, port, dnsServer, user, pass] = process.argv.slice(2);
const resolver = new Resolver();
resolver.setServers([dnsServer]);

function readBytes(sock, n) {
  return new Promise((resolve, reject) => {
    const tryRead = () => {
      const b = sock.read(n);
      if (b) { sock.off('readable', tryRead); sock.off('end', onEnd); resolve(b); }
    };
    const onEnd = () => reject(new Error('closed'));
    sock.on('readable', tryRead);
    sock.once('end', onEnd);
    tryRead();
  });
}

async function session(sock) {
  const [ver, nmethods] = await readBytes(sock, 2);
  if (ver !== 5) throw new Error('not socks5');
  const methods = [...(await readBytes(sock, nmethods))];
  const want = user ? 2 : 0;
  if (!methods.includes(want)) { sock.end(Buffer.from([5, 0xff])); return; }
  sock.write(Buffer.from([5, want]));
  let who = '-';
  if (user) {
    const [, ulen] = await readBytes(sock, 2);
    const u = (await readBytes(sock, ulen)).toString();
    const [plen] = await readBytes(sock, 1);
    const p = (await readBytes(sock, plen)).toString();
    if (u !== user || p !== pass) { sock.end(Buffer.from([1, 1])); console.log(`socks: refused login user=${u}`); return; }
    sock.write(Buffer.from([1, 0]));
    who = u;
  }
  const [, cmd, , atyp] = await readBytes(sock, 4);
  let host;
  if (atyp === 1) host = [...(await readBytes(sock, 4))].join('.');
  else if (atyp === 3) host = (await readBytes(sock, (await readBytes(sock, 1))[0])).toString();
  else { sock.end(Buffer.from([5, 8, 0, 1, 0, 0, 0, 0, 0, 0])); return; }
  const dport = (await readBytes(sock, 2)).readUInt16BE(0);
  console.log(`socks: CONNECT ${host}:${dport} user=${who}`);
  if (cmd !== 1) { sock.end(Buffer.from([5, 7, 0, 1, 0, 0, 0, 0, 0, 0])); return; }
  const ip = atyp === 1 ? host : (await resolver.resolve4(host).catch(() => []))[0];
  if (!ip) { sock.end(Buffer.from([5, 4, 0, 1, 0, 0, 0, 0, 0, 0])); return; }
  const up = net.connect({ host: ip, port: dport }, () => {
    sock.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
    sock.pipe(up);
    up.pipe(sock);
  });
  up.on('error', () => sock.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])));
}

net.createServer((sock) => {
  sock.on('error', () => {});
  session(sock).catch(() => sock.destroy());
}).listen(Number(port), addr, () => console.log(`socks: listening on ${addr}:${port}`));
