// The shipped nats-server configuration (deploy/nats/, generated from
// libs/service-kit/src/nats-permissions.ts) and the chart's NATS users:
// every container connects as its own service, the stream provisioner runs
// before the migrations, and the chart's users are the configuration's users.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { natsPasswordEnv, natsUsers } from '@csda/service-kit';
import { beforeAll, describe, expect, it } from 'vitest';
import { natsConfigFile, renderShippedNatsConfig } from '../scripts/gen-nats-config.ts';
import { byKind, env, podSpecs, type Json } from './checks.ts';
import { helmTemplate, kustomize, repoRoot, type K8sObject } from './render.ts';

const ciValues = join(repoRoot, 'deploy/test/values-ci.yaml');
const natsServer = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
const hookWeight = (o: K8sObject) => Number(o.metadata.annotations?.['helm.sh/hook-weight']);

/** NATS_USER / NATS_PASSWORD of every container: problems, if any, against the expected user per component. */
function natsUserProblems(objects: readonly K8sObject[], secret: string, namespace: string): string[] {
  const problems: string[] = [];
  for (const { owner, component, spec } of podSpecs(objects)) {
    const role = component === 'nats-provision' ? 'provisioner' : component;
    for (const c of spec.containers) {
      const e = env(c);
      const want = namespace ? `${namespace}_${role}` : role;
      if (e.NATS_USER !== want) problems.push(`${owner}: NATS_USER ${JSON.stringify(e.NATS_USER)}, want ${want}`);
      const ref = e.NATS_PASSWORD?.secretKeyRef;
      if (ref?.name !== secret || ref?.key !== role) problems.push(`${owner}: NATS_PASSWORD ${JSON.stringify(e.NATS_PASSWORD)}, want ${secret}/${role}`);
    }
  }
  return problems;
}

describe('nats-server configuration: deploy/nats/nats-server.conf', () => {
  it('is generated from the permission table and up to date', () => {
    expect(readFileSync(natsConfigFile, 'utf8'), 'run: node deploy/scripts/gen-nats-config.ts').toBe(renderShippedNatsConfig());
  });

  it('is accepted by nats-server -t, with every password from the environment (bcrypt hashes work there too)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'csda-nats-conf-'));
    try {
      const passwords = Object.fromEntries(natsUsers('').map((u, i) => [natsPasswordEnv(u.user), i % 2 ? 'Xplain-password' : '$2a$11$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW']));
      const ok = spawnSync(natsServer, ['-c', natsConfigFile, '-t'], { encoding: 'utf8', env: { PATH: process.env.PATH, SERVER_NAME: 'nats-0', ...passwords } });
      expect(`${ok.stdout}${ok.stderr}`).toContain('is valid');
      expect(ok.status).toBe(0);
      // A password variable that is not set is an error, not an empty password.
      const { NATS_PASSWORD_VAULT: _dropped, ...missing } = passwords;
      const bad = spawnSync(natsServer, ['-c', natsConfigFile, '-t'], { encoding: 'utf8', env: { PATH: process.env.PATH, SERVER_NAME: 'nats-0', ...missing } });
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toMatch(/NATS_PASSWORD_VAULT/);
      // A namespaced platform gets namespaced users, subjects and streams.
      const file = join(dir, 'ns.conf');
      writeFileSync(file, renderShippedNatsConfig('ns1'));
      expect(readFileSync(file, 'utf8')).toContain('"ns1.csda.audit.vault.>"');
      expect(readFileSync(file, 'utf8')).toContain('password: $NATS_PASSWORD_NS1_VAULT');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Helm chart: NATS users', () => {
  let defaults: K8sObject[];
  let ci: K8sObject[];
  let open: K8sObject[];
  beforeAll(async () => {
    [defaults, ci, open] = await Promise.all([helmTemplate(), helmTemplate(['-f', ciValues]), helmTemplate(['--set', 'nats.users.existingSecret='])]);
  });

  it('gives every container its own NATS user and password key, the provisioner included', () => {
    expect(natsUserProblems(defaults, 'csda-nats-users', '')).toEqual([]);
    expect(natsUserProblems(ci, 'ci-nats-users', 'ci')).toEqual([]);
    const configured = new Set(natsUsers('').map((u) => u.user));
    const rendered = new Set(podSpecs(defaults).flatMap(({ spec }) => spec.containers.map((c: Json) => env(c).NATS_USER)));
    expect([...rendered].sort()).toEqual([...configured].sort());
    // The checker notices a service that borrows another's user.
    const vault = structuredClone(byKind(defaults, 'Deployment').find((d) => d.metadata.name === 'csda-vault'));
    vault.spec.template.spec.containers[0].env.find((e: Json) => e.name === 'NATS_PASSWORD').valueFrom.secretKeyRef.key = 'gateway';
    expect(natsUserProblems([vault], 'csda-nats-users', '')).toEqual(['Deployment/csda-vault: NATS_PASSWORD {"secretKeyRef":{"name":"csda-nats-users","key":"gateway"}}, want csda-nats-users/vault']);
  });

  it('provisions the streams in a hook before the migrations, with NATS settings only', () => {
    for (const objects of [defaults, ci]) {
      const jobs = byKind(objects, 'Job');
      const provision = jobs.find((j) => j.metadata.name === 'csda-nats-provision');
      expect(provision.metadata.annotations['helm.sh/hook']).toBe('pre-install,pre-upgrade');
      for (const m of jobs.filter((j) => j.metadata.name.endsWith('-migrate'))) expect(hookWeight(provision)).toBeLessThan(hookWeight(m));
      const c = provision.spec.template.spec.containers[0];
      expect(c.args).toEqual(['node', 'libs/service-kit/src/provision/streams.ts']);
      expect(Object.keys(env(c)).filter((k) => !['NODE_ENV', 'LOG_LEVEL'].includes(k) && !k.startsWith('NATS_'))).toEqual([]);
    }
  });

  it('without nats.users: no users, no provisioning Job (an open NATS; services create streams)', () => {
    expect(podSpecs(open).flatMap(({ spec }) => spec.containers.filter((c: Json) => env(c).NATS_USER || env(c).NATS_PASSWORD))).toEqual([]);
    expect(byKind(open, 'Job').map((j) => j.metadata.name)).not.toContain('csda-nats-provision');
  });

  it('k8s/base carries the same users, the provisioning Job next to the migrations', async () => {
    const migrations = await kustomize('base/migrations');
    expect(byKind(migrations, 'Job').map((j) => j.metadata.name)).toContain('csda-nats-provision');
    expect(natsUserProblems([...migrations, ...(await kustomize('base'))], 'csda-nats-users', '')).toEqual([]);
  });
});
