// One E2B SDK call per run, for shell tests (tests/integration/dns.sh): the
// official JS SDK against the coved that E2B_API_URL and E2B_API_KEY name,
// as a user's program would reach it.
//
//   node sdk.mjs create TEMPLATE           prints the sandbox's id (TEMPLATE may
//                                          be a snapshot's id: a fork)
//   node sdk.mjs run ID SCRIPT [USER]      runs SCRIPT (bash -l -c, as the SDK
//                                          does); prints its stdout and stderr,
//                                          exits with its exit code
//   node sdk.mjs upload ID FILE GUEST_PATH writes the host's FILE into the guest
//   node sdk.mjs snapshot ID               prints the new snapshot's id
//   node sdk.mjs pause ID | resume ID | kill ID
//
// SDK errors are printed and exit 125.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const nodeDir = process.env.COVE_NODE_DIR;
const { Sandbox, CommandExitError } = createRequire(`${nodeDir}/`)('e2b');

async function main([verb, ...args]) {
  switch (verb) {
    case 'create': {
      const sbx = await Sandbox.create(args[0]);
      console.log(sbx.sandboxId);
      return 0;
    }
    case 'run': {
      const sbx = await Sandbox.connect(args[0]);
      try {
        const r = await sbx.commands.run(args[1], { user: args[2] ?? 'root', timeoutMs: 60_000 });
        process.stdout.write(r.stdout + r.stderr);
        return r.exitCode;
      } catch (e) {
        if (!(e instanceof CommandExitError)) throw e;
        process.stdout.write(e.stdout + e.stderr);
        return e.exitCode || 1;
      }
    }
    case 'upload': {
      const sbx = await Sandbox.connect(args[0]);
      await sbx.files.write(args[2], readFileSync(args[1], 'utf8'));
      return 0;
    }
    case 'snapshot': {
      const sbx = await Sandbox.connect(args[0]);
      console.log((await sbx.createSnapshot()).snapshotId);
      return 0;
    }
    case 'pause':
      return (await Sandbox.pause(args[0])) ? 0 : 1;
    case 'resume':
      await Sandbox.connect(args[0]);
      return 0;
    case 'kill':
      return (await Sandbox.kill(args[0])) ? 0 : 1;
    default:
      console.error('usage: node sdk.mjs create|run|upload|snapshot|pause|resume|kill ...');
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`sdk: ${e.name}: ${e.message}`);
    process.exit(125);
  },
);
