/**
 * The hostile-input corpus (test/fixtures/hostile/): configurations, environment values, paths
 * and URLs, each with the key its error must name or the warning it must carry. Counts what
 * happened: inputs tried, refused with the key named, accepted with a warning, crashes, hangs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../../src/core/errors.ts';
import { FetchError } from '../../../src/config/source/fetch-text.ts';
import { maskUrl } from '../../../src/config/source/mask.ts';
import { ConfigSource } from '../../../src/config/source/source.ts';
import type { HostileInput, HostileOutcome } from '../../support/hostile-worker.ts';
import { startWebServers, type WebServers } from '../../support/web-servers.ts';

const CORPUS = resolve(import.meta.dirname, '../../fixtures/hostile');
const WORKER = resolve(import.meta.dirname, '../../support/hostile-worker.ts');
/** A case with no answer in this long has hung (generous: the machine is shared and loaded). */
const HANG_MS = 90_000;
const dir = mkdtempSync(join(tmpdir(), 'plancton-hostile-'));

interface Expect {
  readonly refuse?: string;
  readonly warn?: string;
  readonly fetch?: string;
}
interface Case extends Expect {
  readonly name: string;
  readonly file?: string;
  readonly env: Record<string, string>;
}

const counts = { tried: 0, refusedWithKey: 0, acceptedWithWarning: 0, crashes: 0, hangs: 0 };
const mismatches: string[] = [];

function expectOf(header: string): Expect {
  const m = /^# expect: (refuse|warn) (.*)$/m.exec(header);
  if (!m) throw new Error(`no "# expect:" line in ${header.slice(0, 80)}`);
  return m[1] === 'refuse' ? { refuse: m[2] } : { warn: m[2] };
}

/** Every configuration and environment case, the big ones generated here rather than stored. */
function loaderCases(): Case[] {
  const out: Case[] = [];
  for (const f of readdirSync(join(CORPUS, 'configs')).sort()) {
    const file = join(CORPUS, 'configs', f);
    out.push({ name: `config ${f}`, file, env: {}, ...expectOf(readFileSync(file, 'utf8').slice(0, 300)) });
  }
  const generated: Array<[string, string]> = [
    ['over 1 MiB', `# ${'x'.repeat(1024 * 1024 + 10)}\n`],
    ['25,000 keys', Array.from({ length: 25_000 }, (_, i) => `k${i}:\n`).join('')],
    ['150,000 keys in 1 MB', Array.from({ length: 150_000 }, (_, i) => `k${i.toString(36)}:\n`).join('')],
  ];
  for (const [name, text] of generated) {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, text);
    out.push({ name: `config (generated) ${name}`, file, env: {}, refuse: 'FILE' });
  }
  for (const c of parseYaml(readFileSync(join(CORPUS, 'env.yaml'), 'utf8')) as Array<Case & { file?: string }>) {
    let file: string | undefined;
    if (c.file !== undefined) writeFileSync((file = join(dir, `env-${out.length}.yaml`)), `${c.file}\n`);
    out.push({ ...c, name: `env ${c.name}`, file });
  }
  mkdirSync(join(dir, 'DIR'));
  execFileSync('mkfifo', [join(dir, 'FIFO')]);
  symlinkSync('/dev/zero', join(dir, 'LINK_TO_ZERO'));
  for (const c of parseYaml(readFileSync(join(CORPUS, 'files.yaml'), 'utf8')) as Array<{
    name: string;
    path: string;
  }>) {
    out.push({
      name: `path ${c.name}`,
      file: c.path.startsWith('/') ? c.path : join(dir, c.path),
      env: {},
      refuse: 'FILE',
    });
  }
  return out;
}

function judge(c: Case, o: HostileOutcome | 'hang', fileKey: string): void {
  counts.tried++;
  if (o === 'hang') return void (counts.hangs++, mismatches.push(`${c.name}: hung`));
  if (o.kind === 'crash') return void (counts.crashes++, mismatches.push(`${c.name}: crashed: ${o.error}`));
  if (c.refuse !== undefined) {
    const key = c.refuse === 'FILE' || c.refuse === 'URL' ? fileKey : c.refuse;
    if (o.kind === 'refused' && o.keys.includes(key) && o.messages.every((m) => m.length > 0)) counts.refusedWithKey++;
    else mismatches.push(`${c.name}: expected refusal naming ${key}, got ${JSON.stringify(o)}`);
  } else if (c.warn !== undefined) {
    if (o.kind === 'accepted' && o.warnings.some((w) => w.includes(c.warn ?? ''))) counts.acceptedWithWarning++;
    else
      mismatches.push(
        `${c.name}: expected a warning with ${JSON.stringify(c.warn)}, got ${JSON.stringify(o).slice(0, 300)}`,
      );
  }
}

/** Runs the loader cases in a worker, restarting it after a hang. */
async function runLoaderCases(cases: readonly Case[]): Promise<void> {
  let i = 0;
  while (i < cases.length) {
    const worker = new Worker(WORKER);
    try {
      for (; i < cases.length; i++) {
        const c = cases[i] as Case;
        const input: HostileInput = { id: i, file: c.file, env: c.env };
        const outcome = await new Promise<HostileOutcome | 'hang'>((done) => {
          const timer = setTimeout(() => done('hang'), HANG_MS);
          worker.once('message', (o: HostileOutcome) => (clearTimeout(timer), done(o)));
          worker.once('error', (err) => (clearTimeout(timer), done({ id: i, kind: 'crash', error: String(err) })));
          worker.postMessage(input);
        });
        judge(c, outcome, c.file ?? '');
        if (outcome === 'hang' || outcome.kind === 'crash') {
          i++;
          break;
        }
      }
    } finally {
      await worker.terminate();
    }
  }
}

const timers: NodeJS.Timeout[] = [];
function serve(req: IncomingMessage, res: ServerResponse, http: string): void {
  const yaml = (text: string): void => void res.writeHead(200, { 'content-type': 'text/yaml' }).end(text);
  switch (req.url) {
    case '/to-http':
      return void res.writeHead(302, { location: `${http}/privileged` }).end();
    case '/loop':
      return void res.writeHead(302, { location: '/loop' }).end();
    case '/drip': {
      res.writeHead(200);
      const t = setInterval(() => res.write('#'), 2000);
      timers.push(t);
      return void res.on('close', () => clearInterval(t));
    }
    case '/silent':
      return;
    case '/big': {
      res.writeHead(200);
      for (let k = 0; k < 40; k++) res.write(Buffer.alloc(64 * 1024, 0x23));
      return void res.end();
    }
    case '/declared-big':
      return void res.writeHead(200, { 'content-length': String(1 << 30) }).end();
    case '/500':
      return void res.writeHead(500).end('no');
    case '/garbage':
      return yaml('\u0000: [[[ {{{ \n: : -');
    case '/privileged':
      return yaml('docker_privileged: true\n');
    case '/cvmfs':
      return yaml('capabilities: [SYS_ADMIN]\ndevices: [/dev/fuse]\n');
    case '/allow':
      return yaml('allow_host_power: [docker_privileged]\ndocker_privileged: true\n');
    case '/keys':
      return yaml(Array.from({ length: 150_000 }, (_, i) => `k${i.toString(36)}:\n`).join(''));
    default:
      return void res.writeHead(404).end();
  }
}

describe('hostile-input corpus', { timeout: 1_800_000 }, () => {
  let servers: WebServers;
  let H = '';
  let S = '';
  before(async () => {
    servers = await startWebServers(dir, (req, res) => serve(req, res, H));
    [H, S] = [servers.http, servers.https];
  });
  after(async () => {
    timers.forEach(clearInterval);
    await servers.close();
    console.log(`hostile corpus: ${JSON.stringify(counts)}`);
  });

  it('configurations, environment values and paths: each refused naming its key, or accepted with its warning', async () => {
    const cases = loaderCases();
    assert.ok(cases.length >= 140, `${cases.length} cases`);
    await runLoaderCases(cases);
  });

  it('configuration URLs: each a fetch failure saying why, or refused naming its key', async () => {
    const cases = parseYaml(readFileSync(join(CORPUS, 'urls.yaml'), 'utf8')) as Array<
      { name: string; url: string; env?: Record<string, string> } & Expect
    >;
    const paths = {
      runDir: dir,
      pidFile: join(dir, 'pid'),
      logDir: undefined,
      configFile: join(dir, 'no-local.yaml'),
      configRequired: false,
    };
    for (const c of cases) {
      const url = c.url.replace(/^HTTPS/, S).replace(/^HTTP/, H);
      const env = { PLANCTON_CONF_URL: url, PLANCTON_CONF_NOSSLVERIFY: '1', ...c.env };
      const source = new ConfigSource({ paths, env, args: [], strict: true });
      let outcome: HostileOutcome | 'hang';
      let fetchMessage: string | undefined;
      try {
        const r = await Promise.race([
          source.load(),
          new Promise<'hang'>((done) => timers.push(setTimeout(() => done('hang'), HANG_MS))),
        ]);
        outcome = r === 'hang' ? 'hang' : { id: 0, kind: 'accepted', warnings: r.warnings };
      } catch (err) {
        if (err instanceof FetchError) {
          fetchMessage = err.message;
          outcome = { id: 0, kind: 'refused', keys: ['(fetch)'], messages: [err.message] };
        } else if (err instanceof ConfigError) {
          outcome = {
            id: 0,
            kind: 'refused',
            keys: err.problems.map((p) => p.key),
            messages: err.problems.map((p) => p.message),
          };
        } else {
          outcome = { id: 0, kind: 'crash', error: String(err) };
        }
      }
      const name = `url ${c.name}`;
      if (c.fetch !== undefined && outcome !== 'hang' && outcome.kind !== 'crash') {
        counts.tried++;
        if (fetchMessage?.includes(c.fetch) && !/p@ss|t0k3n/.test(fetchMessage)) counts.refusedWithKey++;
        else
          mismatches.push(
            `${name}: expected a fetch failure with ${JSON.stringify(c.fetch)}, got ${JSON.stringify(outcome)}`,
          );
      } else {
        judge({ ...c, name, env }, outcome, maskUrl(url));
      }
    }
  });

  it('no crash, no hang, every expectation met', () => {
    assert.deepEqual(mismatches, []);
    assert.equal(counts.crashes, 0);
    assert.equal(counts.hangs, 0);
    assert.equal(counts.tried, counts.refusedWithKey + counts.acceptedWithWarning);
  });
});
