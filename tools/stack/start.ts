// `npm start` (via tools/stack/start.sh, which installs deps and infrastructure
// first): migrate, bootstrap, then run all six services until Ctrl-C.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { StackService } from './config.ts';
import { buildStack, describeUrl, duplicatePorts } from './config.ts';
import type { ServiceState } from './display.ts';
import { c, say, ServiceLog, stateLine, status, warn } from './display.ts';
import { formatDuration } from './lines.ts';
import type { Child, ExitInfo } from './processes.ts';
import { describeExit, forget, killAllNow, liveChildren, mapLimit, probe, spawnNode, stopAll } from './processes.ts';
import { removePidFile, runningStack, takenPorts, writePidFile } from './preflight.ts';
import { prepareStackNats } from './nats.ts';
import { prepareStackDatabase } from './postgres.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EX_USAGE = 64; // "unknown command": the gateway has no bootstrap yet

const HELP = `Usage: npm start [-- options]     (runs tools/stack/start.sh, then this)

Starts CSDA locally: migrate every service, bootstrap the first admin, run the
six services, wait until all are ready, print the gateway URL. Ctrl-C stops all.

Options:
  --raw-logs              print the services' JSON log lines unchanged
  --ready-timeout <s>     how long to wait for readiness (default 90)
  -h, --help              this text

Environment (all optional):
  DATABASE_URL REDIS_URL NATS_URL NODE_ENV HOST   passed to every service
  DATABASE_ADMIN_URL (DATABASE_URL)  admin URL \`provision\` uses; each service then connects
                          as its own role csda_<service> (dev passwords in .data/postgres-stack)
  <SVC>_DATABASE_URL      a service's own URL instead (SVC = GATEWAY VAULT … SCHEDULER)
  CSDA_NATS_PORT (4223)   port of the stack's own nats-server (per-service users), used
                          unless NATS_URL is set (then that server is used as it is)
  GATEWAY_PORT (8080), GATEWAY_RPC_PORT (50050)
  <SVC>_RPC_PORT, <SVC>_OPS_PORT  with SVC = VAULT TOOL_RUNNER DOCUMENT_INGEST SEARCH SCHEDULER
                          (passed to that service as RPC_PORT / OPS_PORT)
  VAULT_URL TOOL_RUNNER_URL DOCUMENT_INGEST_URL SEARCH_URL SCHEDULER_URL   for the gateway
  CSDA_STACK_READY_TIMEOUT (90)  CSDA_STACK_STOP_TIMEOUT (15)  CSDA_STACK_RAW_LOGS=1
  CSDA_STACK_APPS_DIR (apps)     CSDA_DATA_DIR (.data, holds stack.pid)
  NO_COLOR / FORCE_COLOR`;

class StackError extends Error {}

function seconds(value: string | undefined, variable: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!(n > 0)) throw new StackError(`${variable}=${JSON.stringify(value)} is not a number of seconds`);
  return n;
}

function parseOptions() {
  try {
    return parseArgs({
      options: {
        help: { type: 'boolean', short: 'h' },
        'raw-logs': { type: 'boolean' },
        'ready-timeout': { type: 'string' },
      },
    }).values;
  } catch (err) {
    console.error(`✗ ${(err as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
}
const opts = parseOptions();
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}

const env = process.env;
const dataDir = path.resolve(ROOT, env.CSDA_DATA_DIR || '.data');
const pidFile = path.join(dataDir, 'stack.pid');
const appsDir = path.resolve(ROOT, env.CSDA_STACK_APPS_DIR || 'apps');
const rawLogs = opts['raw-logs'] === true || env.CSDA_STACK_RAW_LOGS === '1';
const WIDTH = 15;

let stopping = false;
let firstSignalAt = 0;
let tick: NodeJS.Timeout | undefined;

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(tick);
  status.stop();
  const live = liveChildren();
  const graceMs = seconds(env.CSDA_STACK_STOP_TIMEOUT, 'CSDA_STACK_STOP_TIMEOUT', 15) * 1000;
  const t0 = Date.now();
  if (live.length) say(c.dim(`stopping ${live.map((ch) => ch.name).join(', ')} …`));
  await stopAll(graceMs, (ch) => warn(`  ${ch.name} did not stop within ${graceMs / 1000} s: SIGKILL`));
  if (live.length) say(c.dim(`all stopped (${formatDuration(Date.now() - t0)})`));
  removePidFile(pidFile);
  process.exit(code);
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (!stopping) {
      firstSignalAt = Date.now();
      say(c.dim(`\n${sig}: stopping (press Ctrl-C again to kill at once)`));
      void shutdown(0);
    } else if (Date.now() - firstSignalAt > 1500) {
      // (npm forwards the terminal's SIGINT too, so one press can arrive twice)
      warn('killing every service now (SIGKILL)');
      killAllNow();
    }
  });
}
process.on('exit', () => killAllNow()); // last resort; normally nothing is left by now

function fail(lines: string[]): Promise<void> {
  status.stop();
  for (const l of lines) warn(l);
  return shutdown(1);
}

function logsOf(name: string, index: number): ServiceLog {
  return new ServiceLog(name, index, WIDTH, rawLogs);
}

function lastLines(child: Child, log: ServiceLog, n: number): string[] {
  const tail = child.tail.lines.slice(-n);
  return tail.length ? tail.flatMap((l) => log.format(l)) : [c.dim(`  (${child.name} printed nothing)`)];
}

async function preflight(services: StackService[], host: string): Promise<void> {
  const other = runningStack(pidFile);
  if (other !== null) {
    throw new StackError(`CSDA is already running here (stack pid ${other}, see ${pidFile}).\n  Stop it with Ctrl-C in its terminal or: kill ${other}`);
  }
  writePidFile(pidFile);
  for (const dup of duplicatePorts(services)) {
    throw new StackError(`port ${dup[0]?.port} is given to ${dup.map((u) => `${u.variable} (${u.service})`).join(' and ')}: pick different ports`);
  }
  const missing = services.filter((s) => !fs.existsSync(s.entry));
  if (missing.length) {
    throw new StackError(`missing service entry point(s): ${missing.map((s) => path.relative(ROOT, s.entry)).join(', ')}`);
  }
  const all = services.flatMap((s) => s.ports);
  const taken = await takenPorts(host, all);
  if (taken.length === 0) return;
  const shown = taken.length === all.length ? taken.filter((t) => t.use.variable === 'GATEWAY_PORT') : taken;
  const lines = shown.map(
    (t) => `  port ${t.use.port} (${t.use.variable}: ${t.use.service} ${t.use.role}) is in use${t.owner ? ` by ${t.owner}` : ` (${t.reason})`}`,
  );
  const hint =
    taken.length === all.length
      ? `…and the other ${all.length - 1} ports of the stack: CSDA (or a copy of it) seems to be running already. Stop it first.`
      : 'Stop what holds them, or set the variables named above to free ports (e.g. GATEWAY_PORT=8081 npm start).';
  throw new StackError(['ports are taken:', ...lines, `  ${hint}`].join('\n'));
}

async function migrate(services: StackService[]): Promise<void> {
  say(c.bold('▸ migrations'));
  await mapLimit(services, 2, async (svc) => {
    if (stopping) return;
    const t0 = Date.now();
    const log = logsOf(svc.name, services.indexOf(svc));
    const child = spawnNode({ name: svc.name, args: [svc.entry, 'migrate'], env: svc.env, cwd: ROOT, onStdout: () => {}, onStderr: () => {} });
    const info = await child.done;
    forget(child);
    if (stopping) return;
    if (info.code !== 0) {
      throw new StackError([`${svc.name} migrate failed (${describeExit(info)}); its last lines:`, ...lastLines(child, log, 30)].join('\n'));
    }
    say(`  ${c.green('✓')} ${svc.name.padEnd(WIDTH)} ${c.dim(`migrated in ${formatDuration(Date.now() - t0)}`)}`);
  });
}

async function bootstrap(gateway: StackService, index: number): Promise<void> {
  say(c.bold('▸ bootstrap'));
  const log = logsOf(gateway.name, index);
  const child = spawnNode({
    name: 'bootstrap',
    args: [gateway.entry, 'bootstrap'],
    env: gateway.env,
    cwd: ROOT,
    rawStdout: (chunk) => process.stdout.write(chunk), // may hold the one-time admin password: as is
    onStdout: () => {},
    onStderr: (line) => log.print(line),
  });
  const info = await child.done;
  forget(child);
  if (stopping) return;
  if (info.code === EX_USAGE) say(c.dim('  gateway has no bootstrap command yet: skipped'));
  else if (info.code !== 0) throw new StackError(`gateway bootstrap failed (${describeExit(info)})`);
}

async function serve(services: StackService[], gatewayUrl: string, readyTimeoutS: number): Promise<void> {
  say(c.bold('▸ services'));
  const states = new Map<string, ServiceState>();
  const children = new Map<string, Child>();
  const logs = new Map<string, ServiceLog>();
  const lastProbe = new Map<string, string>();
  const t0 = Date.now();
  const draw = () => status.update(services.map((s) => stateLine(s.name, WIDTH, states.get(s.name) ?? { kind: 'waiting' }, Date.now())));
  status.start([]);
  services.forEach((svc, i) => {
    const log = logsOf(svc.name, i);
    logs.set(svc.name, log);
    const child = spawnNode({ name: svc.name, args: [svc.entry, 'serve'], env: svc.env, cwd: ROOT, onStdout: (l) => log.print(l), onStderr: (l) => log.print(l) });
    children.set(svc.name, child);
    states.set(svc.name, { kind: 'starting', since: Date.now(), probe: '' });
    void child.done.then((info: ExitInfo) => {
      if (stopping) return;
      states.set(svc.name, { kind: 'failed', why: describeExit(info) });
      void fail([`✗ ${svc.name} exited unexpectedly (${describeExit(info)}); its last lines:`, ...lastLines(child, log, 15)]);
    });
  });
  draw();

  await new Promise<void>((resolve) => {
    const inFlight = new Set<string>();
    tick = setInterval(() => {
      if (stopping) return;
      const pending = services.filter((s) => states.get(s.name)?.kind === 'starting');
      if (pending.length === 0) {
        clearInterval(tick);
        return resolve();
      }
      if (Date.now() - t0 > readyTimeoutS * 1000) {
        clearInterval(tick);
        const lines = [`✗ not ready after ${readyTimeoutS} s: ${pending.map((s) => s.name).join(', ')}`];
        for (const s of pending) {
          lines.push(`  ${s.name}: GET ${s.readyUrl} → ${lastProbe.get(s.name) ?? 'no answer yet'}; its last lines:`);
          lines.push(...lastLines(children.get(s.name) as Child, logs.get(s.name) as ServiceLog, 15));
        }
        void fail(lines);
        return;
      }
      for (const s of pending) {
        if (inFlight.has(s.name)) continue;
        inFlight.add(s.name);
        void probe(s.readyUrl).then((res) => {
          inFlight.delete(s.name);
          const st = states.get(s.name);
          if (stopping || st?.kind !== 'starting') return;
          lastProbe.set(s.name, String(res));
          if (res === 200) {
            states.set(s.name, { kind: 'ready', ms: Date.now() - st.since });
            if (!process.stdout.isTTY) say(stateLine(s.name, WIDTH, states.get(s.name) as ServiceState, Date.now()));
          } else {
            states.set(s.name, { ...st, probe: typeof res === 'number' ? `/readyz ${res}` : res });
          }
        });
      }
      draw();
    }, 250);
  });
  if (stopping) return;
  status.stop();
  if (process.stdout.isTTY) for (const s of services) say(stateLine(s.name, WIDTH, states.get(s.name) as ServiceState, Date.now()));
  say('');
  say(c.bold(c.green(`CSDA is up: ${gatewayUrl} (API docs /docs)`)) + c.dim(`  — all ready in ${formatDuration(Date.now() - t0)}; Ctrl-C stops everything`));
  say('');
}

async function main(): Promise<void> {
  let stack: ReturnType<typeof buildStack>;
  try {
    stack = buildStack(env, appsDir);
  } catch (err) {
    throw new StackError((err as Error).message);
  }
  const readyTimeoutS = seconds(opts['ready-timeout'] ?? env.CSDA_STACK_READY_TIMEOUT, '--ready-timeout', 90);
  await preflight(stack.services, stack.host);
  const ownNats = await prepareStackNats(stack.services, { env, dataDir, host: stack.host, root: ROOT }).catch((err: unknown) => {
    throw new StackError((err as Error).message);
  });
  if (ownNats) say(c.dim(ownNats));
  const database = await prepareStackDatabase(stack.services, { env, dataDir, root: ROOT }).catch((err: unknown) => {
    throw new StackError((err as Error).message);
  });
  say(c.dim(database));
  const e = stack.services[0]?.env ?? {};
  say(
    c.dim(
      `CSDA stack · node ${process.version} · postgres ${describeUrl(e.DATABASE_URL ?? '', 5432)} · redis ${describeUrl(e.REDIS_URL ?? '', 6379)} · nats ${describeUrl(e.NATS_URL ?? '', 4222)}`,
    ),
  );
  await migrate(stack.services);
  const gi = stack.services.findIndex((s) => s.name === 'gateway');
  if (!stopping) await bootstrap(stack.services[gi] as StackService, gi);
  if (!stopping) await serve(stack.services, stack.gatewayUrl, readyTimeoutS);
}

main().catch((err: unknown) => {
  const text = err instanceof StackError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  void fail(text.split('\n').map((l, i) => (i === 0 ? `✗ ${l}` : l)));
});
