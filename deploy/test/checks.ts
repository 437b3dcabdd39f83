// Structural checks shared by the Helm and kustomize renderings.
import type { K8sObject } from './render.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are untyped JSON */
export type Json = any;

export interface PodSpecRef {
  owner: string;
  kind: string;
  /** app.kubernetes.io/component of the workload: the service whose code the pod runs. */
  component: string | undefined;
  spec: Json;
}

export const SERVICES = ['gateway', 'vault', 'tool-runner', 'document-ingest', 'search', 'scheduler'] as const;

export const byKind = (objects: readonly K8sObject[], kind: string): Json[] => objects.filter((o) => o.kind === kind);

/** Every pod template: Deployments, Jobs, CronJobs. */
export function podSpecs(objects: readonly K8sObject[]): PodSpecRef[] {
  const specs: PodSpecRef[] = [];
  for (const o of objects as Json[]) {
    const owner = `${o.kind}/${o.metadata.name}`;
    const component = o.metadata.labels?.['app.kubernetes.io/component'];
    if (o.kind === 'Deployment' || o.kind === 'Job') specs.push({ owner, kind: o.kind, component, spec: o.spec.template.spec });
    if (o.kind === 'CronJob') specs.push({ owner, kind: o.kind, component, spec: o.spec.jobTemplate.spec.template.spec });
  }
  return specs;
}

/** Pod Security "restricted" plus our own rules; returns the problems found. */
export function podSecurityProblems(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  for (const { owner, kind, spec } of podSpecs(objects)) {
    const bad = (what: string) => problems.push(`${owner}: ${what}`);
    const psc = spec.securityContext ?? {};
    if (psc.runAsNonRoot !== true) bad('pod runAsNonRoot is not true');
    if (psc.runAsUser !== 1000 || psc.runAsGroup !== 1000 || psc.fsGroup !== 1000) bad('pod uid/gid/fsGroup not 1000');
    if (psc.seccompProfile?.type !== 'RuntimeDefault') bad('pod seccompProfile is not RuntimeDefault');
    if (spec.automountServiceAccountToken !== false) bad('service account token is mounted');
    if (spec.hostNetwork || spec.hostPID || spec.hostIPC) bad('uses host namespaces');
    const tmp = (spec.volumes ?? []).find((v: Json) => v.name === 'tmp');
    if (!tmp?.emptyDir) bad('no emptyDir volume "tmp"');
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const csc = c.securityContext ?? {};
      if (csc.allowPrivilegeEscalation !== false) bad(`${c.name}: allowPrivilegeEscalation is not false`);
      if (csc.readOnlyRootFilesystem !== true) bad(`${c.name}: readOnlyRootFilesystem is not true`);
      if (JSON.stringify(csc.capabilities?.drop) !== '["ALL"]' || csc.capabilities?.add) bad(`${c.name}: capabilities not drop [ALL]`);
      if (csc.privileged) bad(`${c.name}: privileged`);
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory) bad(`${c.name}: resources incomplete`);
      if (!(c.volumeMounts ?? []).some((m: Json) => m.name === 'tmp' && m.mountPath === '/tmp')) bad(`${c.name}: /tmp not mounted`);
      if (!/^(node|apps\/)/.test(c.args?.[0] ?? '') || c.command) bad(`${c.name}: unexpected command/args`);
      for (const e of c.env ?? []) {
        if (/SECRET|PASSWORD|KEYRING|SIGNING_KEY|VERIFY_KEY|DATABASE_URL/.test(e.name) && !e.valueFrom?.secretKeyRef) bad(`${c.name}: ${e.name} not from a Secret`);
      }
      if (kind === 'Deployment') {
        for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
          if (!Number.isInteger(c[probe]?.grpc?.port)) bad(`${c.name}: ${probe} is not a gRPC probe`);
        }
      }
    }
  }
  return problems;
}

export interface InternalIdentityRef {
  secret: string;
  verifyKeys: string;
  signingKeyPrefix: string;
  signers: readonly string[];
}

/**
 * Internal identity wiring; returns the problems found. Every container of
 * every workload (Deployments, Jobs, CronJobs) verifies tokens, so it needs
 * INTERNAL_VERIFY_KEYS from the Secret; INTERNAL_SIGNING_KEY (a private key)
 * goes only to the containers of a signer, each from its own key
 * <signingKeyPrefix><service> of the same Secret.
 */
export function internalIdentityProblems(objects: readonly K8sObject[], ref: InternalIdentityRef): string[] {
  const problems: string[] = [];
  for (const { owner, component, spec } of podSpecs(objects)) {
    // The stream- and database-provisioning Jobs run no service code and verify no tokens.
    if (component === 'nats-provision' || component === 'db-provision') continue;
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const entries = (c.env ?? []).filter((e: Json) => e.name.startsWith('INTERNAL_'));
      const bad = (what: string) => problems.push(`${owner} ${c.name}: ${what}`);
      const check = (name: string, key: string) => {
        const found = entries.filter((e: Json) => e.name === name);
        if (found.length !== 1) return bad(`${found.length} ${name} entries, want 1`);
        const e = found[0];
        const from = e.valueFrom ?? {};
        const sk = from.secretKeyRef ?? {};
        if (e.value !== undefined || Object.keys(from).join() !== 'secretKeyRef' || Object.keys(sk).sort().join() !== 'key,name' || sk.name !== ref.secret || sk.key !== key) {
          bad(`${name} is ${JSON.stringify(e.value ?? e.valueFrom)}, want secretKeyRef ${ref.secret}/${key}`);
        }
      };
      check('INTERNAL_VERIFY_KEYS', ref.verifyKeys);
      if (component && ref.signers.includes(component)) check('INTERNAL_SIGNING_KEY', `${ref.signingKeyPrefix}${component}`);
      else if (entries.some((e: Json) => e.name === 'INTERNAL_SIGNING_KEY')) bad(`has INTERNAL_SIGNING_KEY but ${component} does not sign`);
      const unknown = entries.filter((e: Json) => e.name !== 'INTERNAL_VERIFY_KEYS' && e.name !== 'INTERNAL_SIGNING_KEY');
      if (unknown.length > 0) bad(`unknown variable(s) ${unknown.map((e: Json) => e.name).join(', ')}`);
    }
  }
  return problems;
}

/** Sorted "Kind/name" ids, for comparing renderings. */
export function ids(objects: readonly K8sObject[]): string[] {
  return objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
}

export function env(container: Json): Record<string, Json> {
  return Object.fromEntries((container.env ?? []).map((e: Json) => [e.name, e.value ?? e.valueFrom]));
}
