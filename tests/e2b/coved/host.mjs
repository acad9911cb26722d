// Helpers the SDK scenarios against coved share (not a test file itself).
import { request } from 'node:http';

// A request to a sandbox's port by host name, as E2B's PORT-ID.DOMAIN URLs
// (coved's default domain, localhost), sent to coved's API address.
export function getByHost(sandboxId, port, path) {
  const api = new URL(process.env.E2B_API_URL);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: api.hostname, port: api.port, path, headers: { host: `${port}-${sandboxId}.localhost` } },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
