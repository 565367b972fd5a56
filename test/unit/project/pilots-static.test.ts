/**
 * Static checks of the pilot images in pilots/: their Plancton configurations validate with
 * Plancton's own loader, their Dockerfiles follow the rules below (a small stand-in for
 * hadolint, which neither Debian bookworm nor npm ships), and the HTCondor configuration
 * parses and defines every macro it uses. The Debian flavour of the HTCondor image is built and
 * run against a real pool by test/e2e/htcondor-pool.test.ts; the production flavour
 * (AlmaLinux, Parrot) cannot be built here, so this is what checks what it adds.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../../src/config/load.ts';
import { firstPool } from '../../../src/config/pools.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
/** The pilot images: pilots/<name>/<file>, run with config/<name>.yaml. */
const PILOTS = [
  { name: 'workqueue', file: 'Dockerfile' },
  { name: 'htcondor', file: 'Dockerfile' },
  { name: 'htcondor', file: 'Dockerfile.debian' },
] as const;

interface Instruction {
  readonly line: number;
  readonly op: string;
  readonly args: string;
  readonly stage: number;
}

/** Dockerfile instructions: comments dropped, `\` continuations joined, stages numbered from 0 (-1 before the first FROM). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (buf === '' && (line === '' || line.startsWith('#'))) return;
    if (buf !== '' && line.startsWith('#')) return;
    if (buf === '') start = i + 1;
    buf += (buf ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) return;
    const m = /^(\w+)\s+([\s\S]*)$/.exec(buf);
    assert.ok(m, `line ${start}: not an instruction: ${buf}`);
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ line: start, op, args: m[2]!, stage });
    buf = '';
  });
  assert.equal(buf, '', 'a continuation runs past the end of the file');
  return out;
}

const dockerfile = (name: string, file = 'Dockerfile'): Instruction[] =>
  parseDockerfile(readFileSync(join(ROOT, 'pilots', name, file), 'utf8'));
const lastStage = (ins: readonly Instruction[]): number => Math.max(...ins.map((i) => i.stage));
const execForm = (args: string): string[] => JSON.parse(args) as string[];

describe('pilot Dockerfiles (hadolint-like rules)', () => {
  for (const { name, file: dockerFile } of PILOTS) {
    const ins = dockerfile(name, dockerFile);
    const at = (i: Instruction): string => `pilots/${name}/${dockerFile}:${i.line}`;

    it(`${name} (${dockerFile}): every FROM names a build ARG declared before it, with a pinned default (DL3006, DL3007)`, () => {
      const args = new Map(
        ins
          .filter((i) => i.op === 'ARG' && i.stage === -1)
          .map((i) => {
            const [k = '', v = ''] = i.args.split('=');
            return [k, v];
          }),
      );
      for (const f of ins.filter((i) => i.op === 'FROM')) {
        const m = /^\$\{(\w+)\}(\s+AS\s+\w+)?$/i.exec(f.args);
        assert.ok(m, `${at(f)}: FROM ${f.args} is not FROM \${ARG} (the tests point it at a local stand-in)`);
        const image = args.get(m[1]!);
        assert.ok(image, `${at(f)}: ARG ${m[1]} has no default before the first FROM`);
        assert.match(image, /^[\w./-]+:[\w.-]+$/, `${at(f)}: ${image} has no tag`);
        assert.doesNotMatch(image, /:latest$/, `${at(f)}: ${image} is not pinned`);
      }
    });

    it(`${name} (${dockerFile}): package installs are lean and clean up in the same layer (DL3009, DL3015, DL3040, DL3038)`, () => {
      for (const r of ins.filter((i) => i.op === 'RUN')) {
        if (/apt-get install/.test(r.args)) {
          assert.match(r.args, /apt-get update/, `${at(r)}: apt-get install without apt-get update in the same RUN`);
          assert.match(r.args, /apt-get install -y|apt-get install[^&]*\s-y\b/, `${at(r)}: apt-get install without -y`);
          assert.match(r.args, /--no-install-recommends/, `${at(r)}: apt-get install without --no-install-recommends`);
          assert.match(r.args, /rm -rf \/var\/lib\/apt\/lists\/\*/, `${at(r)}: apt lists left in the layer`);
        }
        if (/\b(dnf|yum) install/.test(r.args)) {
          for (const cmd of r.args.split('&&').filter((c) => /\b(dnf|yum) install/.test(c)))
            assert.match(cmd, /\s-y\b/, `${at(r)}: ${cmd.trim()} without -y`);
          assert.match(r.args, /\b(dnf|yum) clean all/, `${at(r)}: dnf/yum cache left in the layer`);
        }
      }
    });

    it(`${name} (${dockerFile}): TLS is never turned off and downloads fail loudly (DL4006)`, () => {
      for (const r of ins.filter((i) => i.op === 'RUN')) {
        assert.doesNotMatch(
          r.args,
          /--no-check-certificate|--insecure|\bcurl\s[^|&]*\s-k\b|trusted=yes|sslverify=(0|false)/i,
          `${at(r)}: TLS verification turned off`,
        );
        assert.doesNotMatch(r.args, /\|\s*(ba)?sh\b/, `${at(r)}: a download piped into a shell`);
        if (/\bcurl\b/.test(r.args)) assert.match(r.args, /curl\s+-\w*f/, `${at(r)}: curl without -f`);
        if (/\|/.test(r.args.replace(/\|\|/g, ''))) {
          const shell = ins.filter((i) => i.op === 'SHELL' && i.stage === r.stage && i.line < r.line).at(-1);
          assert.ok(
            shell && /pipefail/.test(shell.args),
            `${at(r)}: a pipe without SHELL [... "-o", "pipefail" ...] in its stage`,
          );
        }
      }
    });

    it(`${name} (${dockerFile}): COPY sources exist in the build context, CMD is exec form and names a copied file (DL3025)`, () => {
      const dests = new Set<string>();
      for (const c of ins.filter((i) => i.op === 'COPY')) {
        const parts = c.args.split(/\s+/);
        const from = parts.some((p) => p.startsWith('--from='));
        const files = parts.filter((p) => !p.startsWith('--'));
        const dest = files.pop()!;
        if (c.stage === lastStage(ins)) dests.add(dest);
        if (!from)
          for (const src of files)
            assert.ok(existsSync(join(ROOT, 'pilots', name, src)), `${at(c)}: ${src} is not in pilots/${name}`);
      }
      const cmds = ins.filter((i) => (i.op === 'CMD' || i.op === 'ENTRYPOINT') && i.stage === lastStage(ins));
      assert.equal(cmds.length, 1, 'one CMD (or ENTRYPOINT) in the final stage');
      const argv = execForm(cmds[0]!.args);
      assert.ok(dests.has(argv[0]!), `${at(cmds[0]!)}: ${argv[0]} is not copied into the image`);
      assert.ok(
        ins.some((i) => i.op === 'STOPSIGNAL' && i.args === 'SIGTERM' && i.stage === lastStage(ins)),
        'STOPSIGNAL SIGTERM: what Plancton sends by default',
      );
    });

    it(`${name} (${dockerFile}): config/${name}.yaml runs the image's command and validates with Plancton's loader`, () => {
      const file = join(ROOT, 'config', `${name}.yaml`);
      const loaded = loadConfig({ file, fileRequired: true, env: {}, args: [] });
      assert.deepEqual(loaded.warnings, [], 'no unknown or doubtful keys');
      const cmd = execForm(ins.filter((i) => i.op === 'CMD').at(-1)!.args);
      assert.deepEqual(firstPool(loaded.pools).pilot.cmd, cmd, 'docker_cmd is the image CMD');
      assert.equal(firstPool(loaded.pools).pilot.network, '', 'the default bridge: a pilot only connects out');
      assert.equal(loaded.settings.stop_signal, 'SIGTERM');
      const raw = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
      assert.ok(
        Array.isArray(raw['docker_env']) && raw['docker_env'].length > 0,
        'the manager / central manager is given in docker_env',
      );
    });
  }

  it('workqueue: the final stage runs unprivileged (DL3002)', () => {
    const ins = dockerfile('workqueue');
    const user = ins.filter((i) => i.op === 'USER' && i.stage === lastStage(ins)).at(-1);
    assert.ok(user && !/^(0|root)\b/.test(user.args), 'USER is not root');
    assert.equal(
      firstPool(loadConfig({ file: join(ROOT, 'config/workqueue.yaml'), fileRequired: true, env: {}, args: [] }).pools)
        .pilot.user,
      '',
      'config leaves the image user',
    );
  });

  it('htcondor: the stop grace leaves the running jobs time before the vacate time', () => {
    const c = loadConfig({ file: join(ROOT, 'config/htcondor.yaml'), fileRequired: true, env: {}, args: [] });
    const env = Object.fromEntries(
      firstPool(c.pools).pilot.env.map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]),
    );
    const vacate = Number(env['HTCONDOR_VACATE_TIME'] ?? 30);
    assert.ok(
      c.settings.stop_timeout > vacate + 5,
      `stop_timeout ${c.settings.stop_timeout} > HTCONDOR_VACATE_TIME ${vacate} + margin 5`,
    );
    assert.ok(env['CONDOR_HOST'], 'CONDOR_HOST is set');
  });
});

/** One logical line of an HTCondor configuration file. */
type CondorLine =
  | { readonly kind: 'set'; readonly name: string; readonly value: string; readonly line: number }
  | { readonly kind: 'use'; readonly value: string; readonly line: number }
  | { readonly kind: 'if' | 'else' | 'endif'; readonly line: number };

/** HTCondor's configuration syntax, as far as these files use it: `NAME = value`, continuations, `use`, `if`/`else`/`endif`. */
function parseCondorConfig(text: string): CondorLine[] {
  const out: CondorLine[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (buf === '' && (line === '' || line.startsWith('#'))) return;
    if (buf === '') start = i + 1;
    buf += (buf ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) return;
    const set = /^([A-Za-z_][\w.]*)\s*=\s*(.*)$/.exec(buf);
    if (set) out.push({ kind: 'set', name: set[1]!.toUpperCase(), value: set[2]!, line: start });
    else if (/^use\s+\w+\s*:\s*\w+(\(.*\))?$/i.test(buf)) out.push({ kind: 'use', value: buf, line: start });
    else if (/^(if|elif)\s+\S/i.test(buf)) out.push({ kind: 'if', line: start });
    else if (/^else$/i.test(buf)) out.push({ kind: 'else', line: start });
    else if (/^endif$/i.test(buf)) out.push({ kind: 'endif', line: start });
    else assert.fail(`line ${start}: not HTCondor configuration: ${buf}`);
    buf = '';
  });
  assert.equal(buf, '', 'a continuation runs past the end of the file');
  return out;
}

/** `$(NAME)` and `$(NAME:default)` references in a value. */
const macros = (value: string): Array<{ name: string; hasDefault: boolean }> =>
  [...value.matchAll(/\$\(([A-Za-z_][\w.]*)(:[^)]*)?\)/g)].map((m) => ({
    name: m[1]!.toUpperCase(),
    hasDefault: m[2] !== undefined,
  }));

/** Names HTCondor itself defines (or the base image does), which these files may use without defining. */
const BUILT_IN = new Set(['FULL_HOSTNAME', 'HOSTNAME', 'LOCAL_DIR', 'LOG', 'RELEASE_DIR', 'STARTD_ATTRS']);

describe('HTCondor pilot configuration', () => {
  // config.d: both flavours; parrot.d: the production flavour's Parrot wrapper
  const files = ['config.d', 'parrot.d']
    .flatMap((d) =>
      readdirSync(join(ROOT, 'pilots/htcondor', d))
        .filter((f) => f.endsWith('.conf'))
        .map((f) => `${d}/${f}`),
    )
    .sort();
  const parsed = files.map((f) => ({
    file: f,
    lines: parseCondorConfig(readFileSync(join(ROOT, 'pilots/htcondor', f), 'utf8')),
  }));
  // Written by the entrypoint at start (test/unit/project/pilots-scripts.test.ts runs it and checks the file it writes).
  const fromEntrypoint = [
    'CONDOR_HOST',
    'TRUST_DOMAIN',
    'USE_POOL_PASSWORD',
    'NUM_CPUS',
    'MEMORY',
    'PLANCTON_IDLE_TIME',
    'PLANCTON_UPDATE_INTERVAL',
    'PLANCTON_VACATE_TIME',
    'PLANCTON_RETIRE_TIME',
    'PLANCTON_DEADLINE',
    'PLANCTON_JOB_END',
    'PLANCTON_CLAIM_END',
    'PLANCTON_PILOT_ID',
    'PLANCTON_HOST',
  ];

  it('parses: assignments, continuations, balanced parentheses and quotes, if/endif paired', () => {
    assert.ok(files.length > 0);
    for (const { file, lines } of parsed) {
      let depth = 0;
      for (const l of lines) {
        if (l.kind === 'if') depth++;
        if (l.kind === 'endif') depth--;
        assert.ok(depth >= 0, `${file}:${l.line}: endif without if`);
        if (l.kind !== 'set') continue;
        let parens = 0;
        for (const ch of l.value.replace(/"(\\.|[^"\\])*"/g, '')) {
          if (ch === '(') parens++;
          if (ch === ')') parens--;
          assert.ok(parens >= 0, `${file}:${l.line}: ${l.name} closes a parenthesis it never opened`);
        }
        assert.equal(parens, 0, `${file}:${l.line}: ${l.name} leaves a parenthesis open`);
        assert.equal(
          (l.value.replace(/\\"/g, '').match(/"/g) ?? []).length % 2,
          0,
          `${file}:${l.line}: ${l.name} leaves a quote open`,
        );
      }
      assert.equal(depth, 0, `${file}: if without endif`);
    }
  });

  it('every macro used is defined: here, by the entrypoint, by HTCondor, or with a default', () => {
    const defined = new Set([
      ...fromEntrypoint,
      ...BUILT_IN,
      ...parsed.flatMap(({ lines }) => lines.flatMap((l) => (l.kind === 'set' ? [l.name] : []))),
    ]);
    for (const { file, lines } of parsed) {
      for (const l of lines) {
        if (l.kind !== 'set') continue;
        for (const m of macros(l.value)) {
          if (m.hasDefault) continue;
          assert.ok(defined.has(m.name), `${file}:${l.line}: ${l.name} uses $(${m.name}), defined nowhere`);
        }
      }
    }
  });

  it('has what the pilot contract needs: CCB, idle shutdown, master follows the startd, bounded retirement, the Parrot wrapper', () => {
    const all = new Map(
      parsed.flatMap(({ lines }) => lines.flatMap((l) => (l.kind === 'set' ? [[l.name, l.value] as const] : []))),
    );
    assert.equal(all.get('CCB_ADDRESS'), '$(CONDOR_HOST)');
    assert.equal(all.get('STARTD_NOCLAIM_SHUTDOWN'), '$(PLANCTON_IDLE_TIME)');
    assert.equal(all.get('UPDATE_INTERVAL'), '$(PLANCTON_UPDATE_INTERVAL)', 'the idle time is checked at each update');
    assert.match(all.get('START') ?? '', /time\(\) < \$\(PLANCTON_CLAIM_END\)/, 'no new claim near the deadline');
    assert.equal(
      all.get('MASTER.DAEMON_SHUTDOWN'),
      undefined,
      'the startd ends the master itself; a DAEMON_SHUTDOWN on its absence ends starting pilots',
    );
    assert.equal(all.get('MAXJOBRETIREMENTTIME'), '$(PLANCTON_RETIRE_TIME)');
    assert.equal(all.get('MACHINEMAXVACATETIME'), '$(PLANCTON_VACATE_TIME)');
    assert.match(
      all.get('START') ?? '',
      /\$\(PLANCTON_JOB_END\)/,
      'START refuses jobs that cannot finish before the end',
    );
    const wrapper = all.get('USER_JOB_WRAPPER') ?? '';
    const copied = dockerfile('htcondor')
      .filter((i) => i.op === 'COPY')
      .map((i) => i.args.split(/\s+/).at(-1));
    assert.ok(
      copied.includes('/etc/condor/config.d/') &&
        dockerfile('htcondor').some((i) => i.op === 'COPY' && i.args.startsWith('parrot.d/')),
      'the production flavour installs config.d and parrot.d',
    );
    assert.ok(
      dockerfile('htcondor', 'Dockerfile.debian').some((i) => i.op === 'COPY' && i.args.startsWith('config.d/')),
      'the Debian flavour installs the same config.d',
    );
    assert.ok(copied.includes(wrapper), `USER_JOB_WRAPPER ${wrapper} is copied into the image`);
    // each file adds to STARTD_ATTRS ($(STARTD_ATTRS) ...): all of them together
    const attrs = parsed
      .flatMap(({ lines }) => lines.flatMap((l) => (l.kind === 'set' && l.name === 'STARTD_ATTRS' ? [l.value] : [])))
      .join(' ');
    for (const attr of ['PLANCTON_DEADLINE', 'PLANCTON_PILOT_ID', 'HAS_CVMFS_PARROT'])
      assert.match(attrs, new RegExp(`\\b${attr}\\b`));
  });
});
