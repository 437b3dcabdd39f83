// Runs helm / kubectl (kustomize) offline and parses their multi-document YAML.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { kubeBinaries } from './kube-binaries.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const chartDir = resolve(repoRoot, 'deploy/helm/csda');
export const k8sDir = resolve(repoRoot, 'k8s');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: readonly string[]): Promise<RunResult> {
  return new Promise((done) => {
    // A private HOME/XDG dirs: helm must not read or write the user's config.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', HELM_CACHE_HOME: '/tmp/csda-helm/cache', HELM_CONFIG_HOME: '/tmp/csda-helm/config', HELM_DATA_HOME: '/tmp/csda-helm/data', KUBECONFIG: '/dev/null' };
    execFile(file, args, { cwd: repoRoot, env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

export async function helm(args: readonly string[]): Promise<RunResult> {
  return run((await kubeBinaries()).helm, args);
}

export async function kubectl(args: readonly string[]): Promise<RunResult> {
  return run((await kubeBinaries()).kubectl, args);
}

function ok(what: string, r: RunResult): string {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `helm template <release> deploy/helm/csda` with extra args (values files, --set). */
export async function helmTemplate(args: readonly string[] = [], release = 'csda'): Promise<K8sObject[]> {
  return parseDocs(ok('helm template', await helm(['template', release, chartDir, ...args])));
}

/** `kubectl kustomize <dir>` (dir relative to k8s/). */
export async function kustomize(dir: string): Promise<K8sObject[]> {
  return parseDocs(ok(`kubectl kustomize ${dir}`, await kubectl(['kustomize', resolve(k8sDir, dir)])));
}

export function parseDocs(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`YAML error: ${doc.errors[0]?.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const obj = value as K8sObject;
    if (typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string' || typeof obj.metadata?.name !== 'string') {
      throw new Error(`not a Kubernetes object: ${JSON.stringify(value).slice(0, 200)}`);
    }
    objects.push(obj);
  }
  return objects;
}
