// Generates the plain manifests in k8s/base (+ migrations/, bootstrap/) from
// the Helm chart, so the chart and the manifests describe the same thing.
//   node deploy/scripts/gen-k8s-base.ts          write k8s/base
//   node deploy/scripts/gen-k8s-base.ts --check  exit 1 if k8s/base is stale
// deploy/test/render.test.ts runs the --check comparison too.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { helmTemplate, k8sDir, repoRoot, type K8sObject } from '../test/render.ts';

const valuesFile = join(import.meta.dirname, 'k8s-base.values.yaml');
const header = '# Generated from deploy/helm/csda by deploy/scripts/gen-k8s-base.ts: do not edit by hand.\n';

/** Drops Helm-only metadata (chart label, managed-by, hook annotations) everywhere in an object. */
function stripHelm(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(stripHelm);
  if (node === null || typeof node !== 'object') return;
  const record = node as Record<string, unknown>;
  const meta = record.metadata as K8sObject['metadata'] | undefined;
  if (meta && typeof meta === 'object') {
    if (meta.labels) {
      delete meta.labels['helm.sh/chart'];
      delete meta.labels['app.kubernetes.io/managed-by'];
    }
    if (meta.annotations) {
      for (const key of Object.keys(meta.annotations)) if (key.startsWith('helm.sh/')) delete meta.annotations[key];
      if (Object.keys(meta.annotations).length === 0) delete meta.annotations;
    }
  }
  Object.values(record).forEach(stripHelm);
}

/** Which file (relative to k8s/base) an object belongs in. */
function fileFor(obj: K8sObject): string {
  const labels = obj.metadata.labels ?? {};
  const workload = labels['csda.io/workload'];
  if (obj.kind === 'Job' && workload === 'migrate') return 'migrations/jobs.yaml';
  if (obj.kind === 'Job' && workload === 'bootstrap') return 'bootstrap/job.yaml';
  // The optional database provisioning runs first, on its own (skipped where a DBA provisions).
  if (obj.kind === 'Job' && labels['app.kubernetes.io/component'] === 'db-provision') return 'db-provision/job.yaml';
  // Stream provisioning belongs with the migrations (plain kubectl applies them together; migrate Jobs retry until it is done).
  if (obj.kind === 'Job' && workload === 'provision') return 'migrations/jobs.yaml';
  if (obj.kind === 'CronJob') return 'cronjobs.yaml';
  const component = labels['app.kubernetes.io/component'];
  if (obj.kind === 'NetworkPolicy') return component ? `networkpolicies/${component}.yaml` : 'networkpolicies/common.yaml';
  if (!component) throw new Error(`no file for ${obj.kind}/${obj.metadata.name}`);
  return `services/${component}.yaml`;
}

const kindOrder = ['ServiceAccount', 'Service', 'Deployment', 'PodDisruptionBudget', 'NetworkPolicy', 'CronJob', 'Job'];

function kustomization(resources: string[], comment: string): string {
  return `${header}# ${comment}\n${stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources })}`;
}

/** Renders every generated file: path relative to k8s/base -> content. */
export async function renderK8sBase(): Promise<Map<string, string>> {
  const objects = await helmTemplate(['-f', valuesFile]);
  const files = new Map<string, K8sObject[]>();
  for (const obj of objects) {
    stripHelm(obj);
    const file = fileFor(obj);
    files.set(file, [...(files.get(file) ?? []), obj]);
  }
  const out = new Map<string, string>();
  for (const [file, objs] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    objs.sort((a, b) => kindOrder.indexOf(a.kind) - kindOrder.indexOf(b.kind) || a.metadata.name.localeCompare(b.metadata.name));
    out.set(file, header + objs.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
  }
  const top = [...out.keys()].filter((f) => !f.startsWith('migrations/') && !f.startsWith('bootstrap/') && !f.startsWith('db-provision/'));
  out.set('kustomization.yaml', kustomization(top, 'Services, ServiceAccounts, PDBs, NetworkPolicies, CronJobs. Apply after migrations/.'));
  out.set('migrations/kustomization.yaml', kustomization(['jobs.yaml'], 'Migration Jobs: apply first and wait for completion (plain kubectl has no hooks).'));
  out.set('bootstrap/kustomization.yaml', kustomization(['job.yaml'], 'First-admin bootstrap Job: apply after the services.'));
  out.set('db-provision/kustomization.yaml', kustomization(['job.yaml'], 'Optional database provisioning Job (roles, schemas, grants): apply and wait before migrations/, unless a DBA ran the SQL.'));
  return out;
}

/** Every file currently under k8s/base (relative paths). */
export function existingK8sBase(): Map<string, string> {
  const base = join(k8sDir, 'base');
  const found = new Map<string, string>();
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else found.set(relative(base, path), readFileSync(path, 'utf8'));
    }
  };
  walk(base);
  return found;
}

async function main(): Promise<void> {
  const rendered = await renderK8sBase();
  const existing = existingK8sBase();
  const stale = [...new Set([...rendered.keys(), ...existing.keys()])].filter((f) => rendered.get(f) !== existing.get(f));
  if (process.argv.includes('--check')) {
    if (stale.length > 0) {
      console.error(`k8s/base is out of date (${stale.join(', ')}); run: node deploy/scripts/gen-k8s-base.ts`);
      process.exit(1);
    }
    return;
  }
  const base = join(k8sDir, 'base');
  for (const file of existing.keys()) if (!rendered.has(file)) rmSync(join(base, file));
  for (const [file, content] of rendered) {
    mkdirSync(dirname(join(base, file)), { recursive: true });
    writeFileSync(join(base, file), content);
  }
  console.log(`k8s/base: ${rendered.size} files written, ${stale.length} changed (${relative(repoRoot, base)})`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
