// The soak's operations and faults (tests/soak/soak.mjs drives them).
//
// A model of the sandboxes this soak made: id -> {sbx (an SDK Sandbox, or
// null), state running|paused|unknown, marker (what was written before its
// pause), endMs (its deadline, wall clock), mayVanish (a short timeout, a
// killed VMM)}. An operation cut short by a fault leaves its sandbox
// `unknown`; settle() then takes coved's list as the truth for those, and
// calls a sandbox lost when coved no longer lists one the model was sure of.
import { execFileSync } from 'node:child_process';
import { run, sleep } from './world.mjs';
import { recordedSandboxes } from './invariants.mjs';

export const FAULTS = ['coved-kill', 'vmm-kill', 'agent-kill', 'disk-full', 'nft-flush', 'clock-step'];
const MAX_SANDBOXES = 5;
const MAX_SNAPSHOTS = 3;
const LONG_S = 900;
const OP_LIMIT_MS = 240_000;
const CLOCK_STEP_S = 180;
const KILL_AGENT = 'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = cove-agent ] && kill -9 ${p#/proc/}; done; sleep 5';

const count = (o, k) => { o[k] = (o[k] ?? 0) + 1; };
const withLimit = (p, ms, what) => Promise.race([p, new Promise((_, no) =>
  setTimeout(() => no(new Error(`HUNG: ${what} did not end within ${ms / 1000} s`)), ms).unref())]);

export class Soak {
  constructor(o) {
    Object.assign(this, o);
    this.cove = `${o.build}/bin/cove`;
    this.home = o.template === 'tiny' ? '/root' : '/home/user';
    this.sandboxes = new Map();
    this.snapshots = [];
    this.everSeen = new Set();
    this.clockOffsetMs = 0;
    this.agentKilledAt = 0;
    this.rulesFlushedAt = 0;
    this.faultActive = null;
    this.stats = { cycles: 0, ops: 0, faultCount: 0, ok: {}, failed: {}, faults: {}, violations: [], unexpected: [],
                   checks: 0, findings: {}, answered: 0, markersOk: 0, expired: 0, vmmKilled: 0, most: 0 };
  }

  // --- the model ---
  add(id, sbx, timeoutS, extra = {}) {
    this.everSeen.add(id);
    this.sandboxes.set(id, { id, sbx, state: 'running', marker: null, endMs: Date.now() + timeoutS * 1000,
                             mayVanish: timeoutS < 60, ...extra });
    this.stats.most = Math.max(this.stats.most, this.sandboxes.size);
  }
  pick(state, also = () => true) {
    const xs = [...this.sandboxes.values()].filter((s) => s.state === state && !s.mayVanish && also(s));
    return xs.length ? this.r.pick(xs) : null;
  }
  async sdk(s) {
    if (!s.sbx) s.sbx = await this.Sandbox.connect(s.id, { timeoutMs: LONG_S * 1000 });
    return s.sbx;
  }
  async cli(args, timeoutMs = 120_000) {
    const res = await run(this.cove, args, { timeoutMs });
    if (res.code !== 0) throw new Error(`cove ${args.join(' ')}: exit ${res.code}: ${res.stderr.trim().slice(0, 300)}`);
    return res.stdout;
  }

  // --- operations: each returns a violation (string) or nothing; throws
  // for a failure (a refused or cut-short operation) ---
  // The operations that can be done now, weighted.
  ops() {
    const n = this.sandboxes.size;
    const running = this.pick('running') ? 1 : 0, paused = this.pick('paused') ? 1 : 0;
    const room = n < MAX_SANDBOXES ? 1 : 0, snaps = this.snapshots.length;
    return {
      create: room * (running ? 3 : 8), 'create-short': room * 1, exec: running * 4, files: running * 3,
      pause: running * 2, resume: paused * 3, fork: room * (running + paused), snapshot: running * (snaps < MAX_SNAPSHOTS ? 1 : 0),
      'from-snapshot': snaps && room ? 1 : 0, 'delete-snapshot': snaps ? 0.5 : 0, kill: n > 2 ? 2 : n ? 0.3 : 0,
      'set-timeout': running * 1,
    };
  }

  async op(kind) {
    const useCli = this.r.chance(0.35);
    switch (kind) {
      case 'create': case 'create-short': {
        const t = kind === 'create' ? LONG_S : this.r.int(4, 10);
        if (useCli) {
          const id = (await this.cli(['create', '--template', this.template, '--timeout', String(t)])).trim();
          this.add(id, null, t);
          return `${kind} ${id} (cli, ${t} s)`;
        }
        const sbx = await this.Sandbox.create(this.template, { timeoutMs: t * 1000 });
        this.add(sbx.sandboxId, sbx, t);
        return `${kind} ${sbx.sandboxId} (${t} s)`;
      }
      case 'exec': {
        const s = this.pick('running');
        if (!s) return 'exec: none running';
        const a = this.r.int(1, 1000), b = this.r.int(1, 1000);
        const out = useCli ? await this.cli(['exec', s.id, '--', 'sh', '-c', `echo $((${a}*${b}))`])
          : (await (await this.sdk(s)).commands.run(`echo $((${a}*${b}))`, { timeoutMs: 60_000 })).stdout;
        if (out.trim() !== String(a * b)) return { violation: `exec in ${s.id}: ${a}*${b} gave '${out.trim()}'` };
        return `exec ${s.id}${useCli ? ' (cli)' : ''}`;
      }
      case 'files': {
        const s = this.pick('running');
        if (!s) return 'files: none running';
        const body = `soak ${this.r.int(0, 1e9)} `.repeat(this.r.int(1, 2000));
        const path = `${this.home}/soak-file-${this.r.int(0, 3)}`;
        let back;
        if (useCli) {
          await run(this.cove, ['cp', '-', `${s.id}:${path}`], { input: body }).then((x) => {
            if (x.code) throw new Error(`cove cp -> ${s.id}: ${x.stderr.trim()}`);
          });
          back = await this.cli(['cp', `${s.id}:${path}`, '-']);
        } else {
          const sbx = await this.sdk(s);
          await sbx.files.write(path, body);
          back = await sbx.files.read(path);
        }
        if (back !== body) return { violation: `files in ${s.id}: ${path} read back ${back.length} bytes, not the ${body.length} written` };
        return `files ${s.id} ${body.length} bytes${useCli ? ' (cli)' : ''}`;
      }
      case 'pause': {
        const s = this.pick('running');
        if (!s) return 'pause: none running';
        const marker = `marker-${this.r.int(0, 1e9)}`;
        await (await this.sdk(s)).files.write(`${this.home}/soak-marker`, marker);
        const memory = this.r.chance(0.7);
        s.state = 'unknown';
        if (useCli) await this.cli(['pause', ...(memory ? [] : ['--no-memory']), s.id]);
        else await (await this.sdk(s)).pause(memory ? {} : { keepMemory: false });
        Object.assign(s, { state: 'paused', marker, sbx: null, diskOnly: !memory });
        return `pause ${s.id}${memory ? '' : ' (no memory)'}${useCli ? ' (cli)' : ''}`;
      }
      case 'resume': {
        const s = this.pick('paused');
        if (!s) return 'resume: none paused';
        // A resume or read cut short by a fault: settle() reads it.
        Object.assign(s, { state: 'unknown', markerPending: true });
        if (useCli) await this.cli(['resume', '--timeout', String(LONG_S), s.id]);
        s.sbx = await this.Sandbox.connect(s.id, { timeoutMs: LONG_S * 1000 });
        Object.assign(s, { state: 'running', endMs: Date.now() + LONG_S * 1000, diskOnly: false });
        const v = await this.checkMarker(s, (await s.sbx.files.read(`${this.home}/soak-marker`)).trim());
        return v ? { violation: v } : `resume ${s.id}${useCli ? ' (cli)' : ''}`;
      }
      case 'fork': {
        // A paused sandbox forks from its saved copy: one with its memory.
        const s = this.r.chance(0.7) ? this.pick('running') : this.pick('paused', (x) => !x.diskOnly);
        if (!s) return 'fork: none';
        const n = this.r.int(1, 2), t = this.r.chance(0.3) ? this.r.int(5, 15) : LONG_S;
        // The parent stands still while it is saved: after a crash then,
        // coved's next start resumes it (nothing acknowledged its pause).
        const was = s.state;
        s.state = 'unknown';
        const kids = useCli && s.state === 'running'
          ? (await this.cli(['fork', '-n', String(n), '--timeout', String(t), s.id])).trim().split(/\s+/)
          : (await this.Sandbox.fork(s.id, { count: n, timeoutMs: t * 1000 })).map((k) => k.sandboxId ?? k);
        s.state = was;
        for (const id of kids) this.add(id, null, t, { marker: s.marker });
        return `fork ${s.id} (${s.state}) -> ${kids.join(' ')} (${t} s)`;
      }
      case 'snapshot': {
        const s = this.pick('running');
        if (!s) return 'snapshot: none running';
        s.state = 'unknown';
        const id = useCli ? (await this.cli(['snapshot', s.id])).trim() : (await (await this.sdk(s)).createSnapshot()).snapshotId;
        s.state = 'running';
        this.snapshots.push(id);
        return `snapshot ${s.id} -> ${id}${useCli ? ' (cli)' : ''}`;
      }
      case 'from-snapshot': {
        const id = this.r.pick(this.snapshots);
        const sbx = await this.Sandbox.create(id, { timeoutMs: LONG_S * 1000 });
        this.add(sbx.sandboxId, sbx, LONG_S);
        return `from-snapshot ${id} -> ${sbx.sandboxId}`;
      }
      case 'delete-snapshot': {
        const id = this.snapshots.splice(this.r.int(0, this.snapshots.length - 1), 1)[0];
        if (useCli) await this.cli(['snapshot', 'rm', id]);
        else await this.Sandbox.deleteSnapshot(id);
        return `delete-snapshot ${id}${useCli ? ' (cli)' : ''}`;
      }
      case 'kill': {
        const xs = [...this.sandboxes.values()];
        if (!xs.length) return 'kill: none';
        const s = this.r.pick(xs);
        s.state = 'unknown';
        s.mayVanish = true;
        try {
          if (useCli) await this.cli(['kill', s.id]);
          else await this.Sandbox.kill(s.id);
        } catch (e) {
          // Gone already (its deadline went by during a clock step, say).
          if (/not found/.test(e.message)) this.sandboxes.delete(s.id);
          throw e;
        }
        this.sandboxes.delete(s.id);
        return `kill ${s.id}${useCli ? ' (cli)' : ''}`;
      }
      case 'set-timeout': {
        const s = this.pick('running');
        if (!s) return 'set-timeout: none running';
        await (await this.sdk(s)).setTimeout(LONG_S * 1000);
        s.endMs = Date.now() + LONG_S * 1000;
        return `set-timeout ${s.id}`;
      }
    }
    throw new Error(`no operation ${kind}`);
  }

  // One operation, counted and logged; a failure is expected only while
  // a fault is in the air.
  async runOp(kind) {
    this.stats.ops++;
    const t0 = Date.now();
    try {
      const res = await withLimit(this.op(kind), OP_LIMIT_MS, kind);
      if (res && res.violation) { this.opLog.add(`${kind}: VIOLATION ${res.violation}`); return res.violation; }
      count(this.stats.ok, kind);
      this.opLog.add(`${res} ok ${Date.now() - t0} ms`);
    } catch (e) {
      const msg = String(e.message ?? e).split('\n')[0].slice(0, 300);
      count(this.stats.failed, kind);
      // With its table deleted, coved makes no slot until its guard has
      // made the table again (src/net/guard.c: well within a second).
      const during = this.faultActive ?? (Date.now() - this.rulesFlushedAt < 3_000 ? 'nft-flush, the table made again'
        : Date.now() - this.agentKilledAt < 10_000 ? 'agent-kill, the agent starting again' : null);
      this.opLog.add(`${kind} FAILED after ${Date.now() - t0} ms${during ? ` (during ${during})` : ''}: ${msg}`);
      if (msg.startsWith('HUNG')) return msg;
      if (!during) this.stats.unexpected.push(`${kind}: ${msg}`);
      // What it was doing is now unknown (settle() reads coved's list).
      for (const s of this.sandboxes.values()) if (s.state === 'unknown') s.mayVanish = s.mayVanish || kind === 'kill';
    }
    return null;
  }

  // One cycle: opsPerCycle operations, the faults at random points among
  // them (a coved kill sometimes in the middle of one).
  async cycle(faults) {
    const problems = [];
    const at = new Map();
    for (const f of faults) {
      const i = this.r.int(0, this.opsPerCycle - 1);
      at.set(i, [...(at.get(i) ?? []), f]);
    }
    for (let i = 0; i < this.opsPerCycle && !problems.length; i++) {
      const kind = this.r.weighted(this.ops());
      const here = at.get(i) ?? [];
      const midOp = here.includes('coved-kill') && this.r.chance(0.5);
      for (const f of here) if (!(f === 'coved-kill' && midOp)) problems.push(...await this.fault(f));
      if (midOp) {
        const opDone = this.runOp(kind);
        await sleep(this.r.int(50, 1500));
        problems.push(...await this.fault('coved-kill'));
        const v = await opDone;
        if (v) problems.push(v);
      } else {
        const v = await this.runOp(kind);
        if (v) problems.push(v);
      }
    }
    return problems;
  }

  // --- faults: each returns violations (coved dying on its own, ...) ---
  async fault(kind) {
    count(this.stats.faults, kind);
    this.stats.faultCount++;
    this.faultActive = kind;
    try {
      const what = await this[`fault_${kind.replace('-', '_')}`]();
      this.opLog.add(`FAULT ${kind}: ${what}`);
      return [];
    } catch (e) {
      this.opLog.add(`FAULT ${kind} could not be done: ${e.message}`);
      return [`fault ${kind} could not be done: ${e.message}`];
    } finally {
      this.faultActive = null;
    }
  }

  async fault_coved_kill() {
    const pid = this.coved.pid();
    for (const s of this.sandboxes.values()) if (s.state !== 'running' && s.state !== 'paused') s.state = 'unknown';
    this.faultActive = 'coved-kill';
    await this.coved.crash();
    await this.coved.start();
    return `SIGKILLed coved ${pid}, started again as ${this.coved.pid()}`;
  }

  async fault_vmm_kill() {
    const recs = await recordedSandboxes(`${this.stateDir}/cove.db`);
    const xs = [...this.sandboxes.values()].filter((s) => s.state === 'running' && recs?.get(s.id)?.vmm_pid > 0);
    if (!xs.length) return 'no running sandbox to kill the VMM of';
    const s = this.r.pick(xs);
    const pid = recs.get(s.id).vmm_pid;
    process.kill(pid, 'SIGKILL');
    Object.assign(s, { state: 'unknown', mayVanish: true, vmmKilled: true });
    this.stats.vmmKilled++;
    return `SIGKILLed the VMM ${pid} of ${s.id}`;
  }

  async fault_agent_kill() {
    const s = this.pick('running');
    if (!s) return 'no running sandbox to kill the agent of';
    const res = await run(this.cove, ['exec', s.id, '--', 'sh', '-c', KILL_AGENT], { timeoutMs: 60_000 });
    s.sbx = null;
    this.agentKilledAt = Date.now();
    return `killed cove-agent in ${s.id} (the exec: exit ${res.code})`;
  }

  // The state directory's file system filled to its last byte, a few
  // operations that write there (each must fail cleanly or work), freed.
  async fault_disk_full() {
    const fill = `${this.stateDir}/soak-fill`;
    const df = await run('df', ['-B1', '--output=avail', this.stateDir]);
    const avail = Number(df.stdout.trim().split('\n')[1]);
    await run('fallocate', ['-l', String(avail), fill]);
    await run('dd', ['if=/dev/zero', `of=${fill}-2`, 'bs=4k'], { timeoutMs: 60_000 });
    const left = (await run('df', ['-B1', '--output=avail', this.stateDir])).stdout.trim().split('\n')[1];
    const tried = [];
    for (const kind of this.r.shuffle(['create', 'pause', 'snapshot', 'kill']).slice(0, 2)) {
      await this.runOp(kind);
      tried.push(kind);
      if (!this.coved.alive()) throw new Error(`coved died with its state directory full (after ${kind})`);
    }
    await run('rm', ['-f', fill, `${fill}-2`]);
    return `filled ${this.stateDir} (${avail} bytes; ${left} left), tried ${tried.join(', ')}, freed`;
  }

  // Only coved's own table of the tests' network instance: the host's
  // other rules are not the soak's to flush.
  async fault_nft_flush() {
    const name = process.env.COVE_NET_NAME;
    const res = await run('nft', ['delete', 'table', 'inet', name]);
    this.rulesFlushedAt = Date.now();
    return `deleted nft table inet ${name}${res.code ? ` (failed: ${res.stderr.trim()})` : ''}`;
  }

  async fault_clock_step() {
    const ops = [];
    this.stepClock(CLOCK_STEP_S * 1000);
    // Sandboxes whose deadline the step passed may end.
    for (const s of this.sandboxes.values()) if (s.endMs < Date.now() + 30_000) s.mayVanish = true;
    try {
      for (const kind of this.r.shuffle(['exec', 'create', 'pause', 'resume', 'files']).slice(0, 2)) {
        await this.runOp(kind);
        ops.push(kind);
      }
    } finally {
      this.restoreClockSync();
    }
    return `stepped the clock ${CLOCK_STEP_S} s forward, ran ${ops.join(', ')}, stepped it back`;
  }

  // CLOCK_REALTIME moved by ms; the offset in SOAK_BASE/clock-step for
  // soak.sh's trap should this process be killed.
  stepClock(ms) {
    execFileSync('sh', ['-c', `echo ${ms} > "$0"`, `${this.base}/clock-step`]);
    execFileSync('python3', ['-c', 'import sys, time; time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME) + float(sys.argv[1]) / 1000)', String(ms)]);
    this.clockOffsetMs += ms;
  }
  restoreClockSync() {
    if (!this.clockOffsetMs) return;
    execFileSync('python3', ['-c', 'import sys, time; time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME) - float(sys.argv[1]) / 1000)', String(this.clockOffsetMs)]);
    this.clockOffsetMs = 0;
    execFileSync('rm', ['-f', `${this.base}/clock-step`]);
  }

  // --- after a cycle: the model against coved's list; every listed
  // running sandbox answers (an agent killed has a few seconds to be
  // restarted by cove-init) ---
  async settle() {
    const v = [];
    if (!this.coved.alive()) return [`coved exited on its own (${JSON.stringify(await this.coved.child.exited)})`];
    const listed = await this.listed();
    if (!listed) return ['coved did not list its sandboxes'];
    for (const [id, s] of this.sandboxes) {
      const l = listed.get(id);
      if (!l) {
        if (s.vmmKilled) { this.sandboxes.delete(id); continue; }
        if (s.mayVanish || s.state === 'unknown' || s.endMs < Date.now() + 5_000) {
          if (s.endMs < Date.now()) this.stats.expired++;
          this.sandboxes.delete(id);
          continue;
        }
        v.push(`sandbox ${id} (${s.state}, deadline in ${((s.endMs - Date.now()) / 1000).toFixed(0)} s) is no longer listed: lost`);
        continue;
      }
      if (s.state !== 'unknown' && s.state !== l.state) v.push(`sandbox ${id} is ${l.state}, expected ${s.state}`);
      if (s.state === 'unknown') { s.state = l.state; s.sbx = null; }
      if (s.mayVanish && !s.vmmKilled && s.endMs + 20_000 < Date.now() && l.state === 'running')
        v.push(`sandbox ${id} outlived its deadline by ${((Date.now() - s.endMs) / 1000).toFixed(0)} s`);
    }
    for (const [id, l] of listed)
      if (!this.sandboxes.has(id)) {
        // Made by a create whose reply a fault cut off: its own now.
        this.add(id, null, LONG_S, { state: l.state, mayVanish: true });
        this.opLog.add(`settle: adopted ${id} (${l.state}), made by an operation cut short`);
      }
    for (const [id, l] of listed) if (l.state === 'running') v.push(...await this.answers(id));
    for (const s of this.sandboxes.values()) {
      if (!s.markerPending || s.state !== 'running') continue;
      const got = await run(this.cove, ['cp', `${s.id}:${this.home}/soak-marker`, '-'], { timeoutMs: 60_000 });
      if (got.code !== 0 && !(await this.listed())?.has(s.id)) continue;
      const problem = this.checkMarker(s, got.code === 0 ? got.stdout.trim() : `(cove cp: ${got.stderr.trim()})`);
      if (problem) v.push(problem);
    }
    return v;
  }

  // The marker written before s's pause, read back after its resume.
  checkMarker(s, got) {
    s.markerPending = false;
    if (!s.marker) return null;
    if (got !== s.marker) return `resumed ${s.id} without its files: marker '${got}', written '${s.marker}'`;
    this.stats.markersOk++;
    return null;
  }

  async listed() {
    const res = await this.coved.api('GET', '/v2/sandboxes?state=running,paused&limit=100');
    if (res.status !== 200) return null;
    return new Map(res.body.map((s) => [s.sandboxID, s]));
  }

  // A listed running sandbox answers an exec within 30 s (an agent killed
  // is restarted by cove-init), or is no longer listed (coved ended it:
  // its VMM died, its deadline went by).
  async answers(id) {
    const deadline = Date.now() + 30_000;
    let last;
    do {
      last = await run(this.cove, ['exec', id, '--', 'echo', 'alive'], { timeoutMs: 30_000 });
      if (last.code === 0 && last.stdout.trim() === 'alive') { this.stats.answered++; return []; }
      const now = await this.listed();
      if (now && !now.has(id)) {
        this.opLog.add(`settle: ${id} is no longer listed (${last.stderr.trim().slice(0, 100)})`);
        // Gone from the model too, or a later op picks it and fails.
        const s = this.sandboxes.get(id);
        this.sandboxes.delete(id);
        if (s && !s.vmmKilled && !s.mayVanish && s.endMs > Date.now() + 5_000)
          return [`sandbox ${id} (${s.state}) stopped being listed while it was checked: lost`];
        return [];
      }
      await sleep(1000);
    } while (Date.now() < deadline);
    const s = this.sandboxes.get(id);
    return [`sandbox ${id} is listed running but does not answer an exec within 30 s${s?.vmmKilled ? ' (its VMM was killed)' : ''}: exit ${last.code}: ${last.stderr.trim().slice(0, 200)}`];
  }

  async teardown() {
    for (const id of this.sandboxes.keys()) await this.Sandbox.kill(id).catch(() => {});
    for (const id of this.snapshots) await this.Sandbox.deleteSnapshot(id).catch(() => {});
  }
}
