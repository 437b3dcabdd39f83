// One PostgreSQL role per service in the chart and k8s/: every container's
// DATABASE_URL comes from its own service's Secret, the optional provisioning
// hook Job runs before the migrations with the admin Secret, and the DBA's SQL
// in deploy/README.md is exactly what `provision print-sql` prints.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { byKind, env, podSecurityProblems, podSpecs, SERVICES, type Json } from './checks.ts';
import { chartDir, helm, helmTemplate, kustomize, repoRoot, type K8sObject } from './render.ts';
import { validateObjects } from './validate.ts';

const run = promisify(execFile);
const annotation = (o: K8sObject, key: string) => o.metadata.annotations?.[key];
const provisionArgs = ['--set', 'database.provision.enabled=true', '--set', 'database.provision.adminSecret.existingSecret=csda-db-admin'];

/** component → the DATABASE_URL secretKeyRef of every container of every pod of it. */
function databaseRefs(objects: readonly K8sObject[]): Map<string, Json[]> {
  const refs = new Map<string, Json[]>();
  for (const { component, spec } of podSpecs(objects)) {
    for (const c of spec.containers) {
      const ref = env(c).DATABASE_URL;
      if (ref !== undefined) refs.set(component ?? '', [...(refs.get(component ?? '') ?? []), ref]);
    }
  }
  return refs;
}

describe('Helm chart: one database Secret per service', () => {
  let defaults: K8sObject[];
  let provisioned: K8sObject[];

  beforeAll(async () => {
    [defaults, provisioned] = await Promise.all([helmTemplate(), helmTemplate(provisionArgs)]);
  });

  it("gives every server, migration, bootstrap and CronJob pod its own service's Secret", () => {
    const refs = databaseRefs(defaults);
    expect([...refs.keys()].sort()).toEqual([...SERVICES].sort());
    for (const [component, list] of refs) {
      for (const ref of list) expect(ref, component).toEqual({ secretKeyRef: { name: `csda-db-${component}`, key: 'url' } });
    }
    expect(refs.get('gateway')).toHaveLength(3); // Deployment, migrate Job, bootstrap Job
    expect(refs.get('scheduler')).toHaveLength(4); // Deployment, migrate Job, two CronJobs
  });

  it('takes a per-service override, and keeps the shared Secret of older releases working', async () => {
    const own = databaseRefs(await helmTemplate(['--set', 'services.vault.database.existingSecret=vault-pg', '--set', 'services.vault.database.secretKey=dsn']));
    expect(new Set(own.get('vault')!.map((r) => JSON.stringify(r)))).toEqual(new Set([JSON.stringify({ secretKeyRef: { name: 'vault-pg', key: 'dsn' } })]));
    expect(own.get('search')![0]).toEqual({ secretKeyRef: { name: 'csda-db-search', key: 'url' } });
    const legacy = databaseRefs(await helmTemplate(['--set', 'database.existingSecret=csda-database']));
    for (const list of legacy.values()) for (const ref of list) expect(ref).toEqual({ secretKeyRef: { name: 'csda-database', key: 'url' } });
    const prefixed = databaseRefs(await helmTemplate(['--set', 'database.secretPrefix=pg-']));
    expect(prefixed.get('tool-runner')![0]).toEqual({ secretKeyRef: { name: 'pg-tool-runner', key: 'url' } });
  });

  it('runs no provisioning Job unless asked to', () => {
    expect(byKind(defaults, 'Job').filter((j) => j.metadata.name === 'csda-db-provision')).toEqual([]);
  });

  it('runs the optional provisioning Job as a hook before the NATS provisioning and every migration', () => {
    validateObjects(provisioned);
    expect(podSecurityProblems(provisioned)).toEqual([]);
    const jobs = byKind(provisioned, 'Job');
    const job = jobs.find((j) => j.metadata.name === 'csda-db-provision');
    expect(annotation(job, 'helm.sh/hook')).toBe('pre-install,pre-upgrade');
    expect(annotation(job, 'helm.sh/hook-delete-policy')).toBe('before-hook-creation,hook-succeeded');
    const weight = Number(annotation(job, 'helm.sh/hook-weight'));
    const later = jobs.filter((j) => j !== job && annotation(j, 'helm.sh/hook')?.startsWith('pre-install'));
    expect(later.length).toBeGreaterThanOrEqual(6);
    for (const j of later) expect(Number(annotation(j, 'helm.sh/hook-weight')), j.metadata.name).toBeGreaterThan(weight);
    const container = job.spec.template.spec.containers[0];
    expect(container.args).toEqual(['node', 'libs/service-kit/src/provision/main.ts', 'provision']);
    expect(existsSync(join(repoRoot, container.args[1]))).toBe(true); // deploy/Dockerfile copies libs/
    const e = env(container);
    expect(e.DATABASE_ADMIN_URL).toEqual({ secretKeyRef: { name: 'csda-db-admin', key: 'url' } });
    for (const s of SERVICES) expect(e[`${s.toUpperCase().replaceAll('-', '_')}_DATABASE_URL`]).toEqual({ secretKeyRef: { name: `csda-db-${s}`, key: 'url' } });
    // Database credentials only: no identity keys, no NATS, no service DATABASE_URL.
    expect(Object.keys(e).sort()).toEqual(['DATABASE_ADMIN_URL', 'LOG_LEVEL', 'NODE_ENV', ...SERVICES.map((s) => `${s.toUpperCase().replaceAll('-', '_')}_DATABASE_URL`)].sort());
    // The admin Secret reaches no other pod.
    for (const { owner, spec } of podSpecs(provisioned)) {
      if (owner === 'Job/csda-db-provision') continue;
      for (const c of spec.containers) expect(JSON.stringify(c.env ?? []), owner).not.toContain('csda-db-admin');
    }
  });

  it('refuses a provisioning Job without an admin Secret, or with one shared Secret for all services', async () => {
    const noAdmin = await helm(['template', 'csda', chartDir, '--set', 'database.provision.enabled=true']);
    expect(noAdmin.code).not.toBe(0);
    expect(noAdmin.stderr).toMatch(/database\.provision\.enabled needs database\.provision\.adminSecret\.existingSecret/);
    const shared = await helm(['template', 'csda', chartDir, ...provisionArgs, '--set', 'database.existingSecret=csda-database']);
    expect(shared.code).not.toBe(0);
    expect(shared.stderr).toMatch(/needs one database Secret per service/);
    const typo = await helm(['template', 'csda', chartDir, '--set', 'database.provison.enabled=true']);
    expect(typo.stderr).toMatch(/additional properties 'provison' not allowed/);
  });
});

describe('k8s/: per-service database Secrets and the optional provisioning Job', () => {
  const rendered = new Map<string, K8sObject[]>();
  beforeAll(async () => {
    const dirs = ['base', 'base/migrations', 'base/db-provision', 'overlays/dev/db-provision', 'overlays/prod/db-provision'];
    const results = await Promise.all(dirs.map((d) => kustomize(d)));
    dirs.forEach((d, i) => rendered.set(d, results[i]!));
  });

  it('reads every DATABASE_URL from its service Secret', () => {
    const refs = databaseRefs([...rendered.get('base')!, ...rendered.get('base/migrations')!]);
    for (const [component, list] of refs) for (const ref of list) expect(ref, component).toEqual({ secretKeyRef: { name: `csda-db-${component}`, key: 'url' } });
  });

  it('ships the provisioning Job on its own, namespaced and restricted in each overlay', () => {
    for (const [dir, ns] of [['overlays/dev/db-provision', 'csda-dev'], ['overlays/prod/db-provision', 'csda']] as const) {
      const objects = rendered.get(dir)!;
      validateObjects(objects);
      expect(podSecurityProblems(objects), dir).toEqual([]);
      expect(objects.map((o) => `${o.kind}/${o.metadata.name}/${o.metadata.namespace}`)).toEqual([`Job/csda-db-provision/${ns}`]);
      expect(env((objects[0] as Json).spec.template.spec.containers[0]).DATABASE_ADMIN_URL).toEqual({ secretKeyRef: { name: 'csda-db-admin', key: 'url' } });
    }
    expect(byKind(rendered.get('base/migrations')!, 'Job').map((j) => j.metadata.name)).not.toContain('csda-db-provision');
  });
});

describe('deploy/README.md: the SQL a DBA runs instead of the provisioning Job', () => {
  it('is exactly what `provision print-sql` prints', async () => {
    const readme = readFileSync(join(repoRoot, 'deploy/README.md'), 'utf8');
    const block = /<!-- provision print-sql -->\n```sql\n([\s\S]*?)```\n/.exec(readme)?.[1];
    expect(block, 'deploy/README.md lacks the <!-- provision print-sql --> block').toBeDefined();
    const { stdout } = await run(process.execPath, ['libs/service-kit/src/provision/main.ts', 'print-sql'], { cwd: repoRoot });
    expect(block, 'regenerate: node libs/service-kit/src/provision/main.ts print-sql').toBe(stdout);
  });
});
