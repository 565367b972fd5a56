/**
 * The Grafana dashboard and provisioning of the Compose monitoring profile, checked against the
 * code: every InfluxQL query names a series, tags and fields the writer writes (SERIES), every
 * PromQL query metrics and labels the registry defines.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SERIES } from '../../../src/report/influx-points.ts';
import { PlanctonMetrics } from '../../../src/report/metrics.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const read = (p: string): string => readFileSync(resolve(ROOT, p), 'utf8');

interface Ds {
  type: string;
  uid: string;
}
interface Target {
  refId: string;
  datasource?: Ds;
  query?: unknown;
  rawQuery?: boolean;
  expr?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: Ds;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; datasource: Ds; query: unknown }> };
}

const dashboard = JSON.parse(read('compose/grafana/dashboards/plancton.json')) as Dashboard;
const datasources = (
  parseYaml(read('compose/grafana/provisioning/datasources/plancton.yaml')) as {
    datasources: Array<{ uid: string; type: string; url: string }>;
  }
).datasources;
const providers = (
  parseYaml(read('compose/grafana/provisioning/dashboards/plancton.yaml')) as {
    providers: Array<{ type: string; options: { path: string } }>;
  }
).providers;
const provisioned = new Map(datasources.map((d) => [d.uid, d.type]));

/** Every `datasource` value anywhere in the dashboard. */
function datasourceRefs(node: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(node)) for (const n of node) datasourceRefs(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'datasource') out.push(v);
      datasourceRefs(v, out);
    }
  }
  return out;
}

/** [query text, datasource type] of every panel target and template variable. */
function queries(): Array<{ where: string; text: string; type: string }> {
  const out: Array<{ where: string; text: string; type: string }> = [];
  for (const p of dashboard.panels) {
    for (const t of p.targets ?? []) {
      const ds = t.datasource ?? p.datasource;
      const text = ds?.type === 'prometheus' ? t.expr : t.query;
      assert.equal(typeof text, 'string', `panel "${p.title}" ${t.refId} has a query`);
      out.push({ where: `panel "${p.title}" ${t.refId}`, text: text as string, type: ds?.type ?? '' });
    }
  }
  for (const v of dashboard.templating.list) {
    const text = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
    out.push({ where: `variable ${v.name}`, text, type: v.datasource.type });
  }
  return out;
}

const series = SERIES as Record<string, { tags: readonly string[]; fields: readonly string[] }>;

describe('Grafana provisioning', () => {
  it('provisions exactly the two datasources, InfluxDB (database plancton) and Prometheus, on the compose services', () => {
    assert.deepEqual([...provisioned].sort(), [
      ['plancton-influxdb', 'influxdb'],
      ['plancton-prometheus', 'prometheus'],
    ]);
    assert.equal(datasources.find((d) => d.type === 'influxdb')?.url, 'http://influxdb:8086');
    assert.equal(datasources.find((d) => d.type === 'prometheus')?.url, 'http://prometheus:9090');
    assert.match(read('compose/grafana/provisioning/datasources/plancton.yaml'), /dbName: plancton/);
  });

  it('loads the dashboards from /var/lib/grafana/dashboards', () => {
    assert.deepEqual(
      providers.map((p) => [p.type, p.options.path]),
      [['file', '/var/lib/grafana/dashboards']],
    );
  });

  it('Prometheus scrapes plancton:9100/metrics', () => {
    const conf = parseYaml(read('compose/prometheus/prometheus.yml')) as {
      scrape_configs: Array<{ metrics_path?: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const job = conf.scrape_configs[0];
    assert.equal(job?.metrics_path ?? '/metrics', '/metrics');
    assert.deepEqual(job?.static_configs[0]?.targets, ['plancton:9100']);
  });
});

describe('Grafana dashboard', () => {
  it('has the structure Grafana needs: uid, title, schema version, unique ids, panels on the 24-column grid without overlap', () => {
    assert.equal(dashboard.uid, 'plancton-pool');
    assert.ok(dashboard.title);
    assert.ok(dashboard.schemaVersion >= 30);
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      assert.ok(
        ['row', 'timeseries', 'histogram', 'table', 'state-timeline', 'bargauge', 'stat'].includes(p.type),
        `${p.title}: type ${p.type}`,
      );
      assert.ok(p.title, 'every panel has a title');
      const { x, y, w, h } = p.gridPos;
      assert.ok(x >= 0 && w > 0 && h > 0 && x + w <= 24, `${p.title}: gridPos`);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          assert.ok(!cells.has(`${i},${j}`), `${p.title} overlaps another panel`);
          cells.add(`${i},${j}`);
        }
      }
      if (p.type !== 'row') assert.ok((p.targets ?? []).length > 0, `${p.title} has queries`);
    }
  });

  it('refers only to the provisioned datasources, by uid and matching type', () => {
    const refs = datasourceRefs(dashboard);
    assert.ok(refs.length > 20);
    for (const ref of refs) {
      const d = ref as Ds;
      assert.equal(typeof d, 'object', `datasource ${JSON.stringify(ref)} is a {type, uid} reference`);
      assert.equal(provisioned.get(d.uid), d.type, `datasource ${JSON.stringify(ref)}`);
    }
  });

  it('shows what a pool needs, on both datasources', () => {
    for (const type of ['influxdb', 'prometheus']) {
      const titles = dashboard.panels.filter((p) => p.datasource?.type === type).map((p) => p.title.toLowerCase());
      for (const want of [
        'pilots per host',
        'owner / pilots / idle',
        'removals by reason',
        'uptime',
        'daemon status',
      ]) {
        assert.ok(
          titles.some((t) => t.includes(want)),
          `${type}: a panel about ${want}`,
        );
      }
    }
  });

  it('every InfluxQL query reads a series the writer writes, with its tags and fields only', () => {
    const influx = queries().filter((q) => q.type === 'influxdb');
    assert.ok(influx.length >= 10);
    const used = new Set<string>();
    for (const q of influx) {
      const from = /\bFROM\s+"([^"]+)"/i.exec(q.text);
      assert.ok(from?.[1], `${q.where}: FROM "series"`);
      const s = series[from[1]];
      assert.ok(s, `${q.where}: series ${from[1]} is one the writer writes`);
      used.add(from[1]);
      // every double-quoted identifier but the aliases (AS "x") and the series itself
      const idents = [...q.text.replace(/\bAS\s+"[^"]+"/gi, '').matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? '');
      for (const id of idents) {
        if (id === from[1]) continue;
        assert.ok(s.tags.includes(id) || s.fields.includes(id), `${q.where}: ${id} is a tag or field of ${from[1]}`);
      }
      for (const m of q.text.matchAll(/WITH KEY = "([^"]+)"/g))
        assert.ok(s.tags.includes(m[1] ?? ''), `${q.where}: tag ${m[1]}`);
      for (const m of q.text.matchAll(/"(started|killed)" = '([^']*)'/g))
        assert.match(m[2] ?? '', /^(True|False)$/, `${q.where}: 0.6 wrote True/False`);
    }
    for (const s of ['daemon', 'measurement', 'container'])
      assert.ok(used.has(s), `0.6 series ${s} is on the dashboard`);
  });

  it('every PromQL query names metrics the registry defines, and only their labels', async () => {
    const m = new PlanctonMetrics({ identity: { instance: 'i', hostname: 'h', version: 'v' } });
    const labels = new Map<string, Set<string>>();
    // the label names each metric was declared with, plus the registry's and Prometheus' own
    for (const metric of m.registry.getMetricsAsArray()) {
      const names = new Set([
        ...((metric as unknown as { labelNames?: string[] }).labelNames ?? []),
        'hostname',
        'job',
        'instance',
      ]);
      if (String(metric.type) === 'histogram') {
        for (const suffix of ['_bucket', '_sum', '_count'])
          labels.set(`${metric.name}${suffix}`, new Set([...names, 'le']));
      } else labels.set(metric.name, names);
    }
    // prom-client's default metrics add labels at collect time (e.g. nodejs_gc_duration_seconds{kind}): read them from the output
    for (const line of (await m.registry.metrics()).split('\n')) {
      const x = /^([a-z0-9_]+)\{([^}]*)\}/.exec(line);
      if (!x) continue;
      for (const l of (x[2] ?? '').matchAll(/([a-zA-Z_]+)="/g)) labels.get(x[1] ?? '')?.add(l[1] ?? '');
    }
    await m.close();
    const prom = queries().filter((q) => q.type === 'prometheus');
    assert.ok(prom.length >= 10);
    for (const q of prom) {
      const metrics = [...q.text.matchAll(/\b(plancton_[a-z0-9_]+)\b/g)].map((x) => x[1] ?? '');
      assert.ok(metrics.length > 0, `${q.where}: names a plancton_ metric`);
      const allowed = new Set<string>();
      for (const name of metrics) {
        const l = labels.get(name);
        assert.ok(l, `${q.where}: ${name} is defined by the registry`);
        for (const x of l) allowed.add(x);
      }
      for (const sel of q.text.matchAll(/\b(plancton_[a-z0-9_]+)\{([^}]*)\}/g)) {
        for (const lm of (sel[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)/g)) {
          assert.ok(labels.get(sel[1] ?? '')?.has(lm[1] ?? ''), `${q.where}: ${sel[1]} has label ${lm[1]}`);
        }
      }
      for (const by of q.text.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
        for (const l of (by[1] ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean))
          assert.ok(allowed.has(l), `${q.where}: label ${l}`);
      }
      for (const fn of q.text.matchAll(/label_values\(\s*(plancton_[a-z0-9_]+)\s*,\s*([a-z_]+)\s*\)/g))
        assert.ok(labels.get(fn[1] ?? '')?.has(fn[2] ?? ''));
    }
  });
});
