// Shared by the SDK tests and bench/agent.mjs: the pinned E2B SDK, and a
// cove-agent started on loopback with the SDK pointed at it (debug mode:
// no control plane, the SDK talks to one envd directly).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const build = process.env.COVE_BUILD;

export const sdk = createRequire(`${process.env.COVE_NODE_DIR ?? `${build}/node`}/`)('e2b');

// Resolves to { agent, port, sbx } once the agent listens.
export async function startAgent() {
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
  return { agent, port, sbx };
}
