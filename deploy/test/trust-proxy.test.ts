// TRUST_PROXY in the chart (gateway.trustProxy) and the prod overlay: the
// gateway reads X-Forwarded-For only through the ingress's hops.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { byKind, env } from './checks.ts';
import { chartDir, helm, helmTemplate, k8sDir, kustomize, repoRoot, type K8sObject } from './render.ts';

const gatewayEnv = (objects: K8sObject[]) => env(byKind(objects, 'Deployment').find((d) => d.metadata.name === 'csda-gateway').spec.template.spec.containers[0]);

describe('TRUST_PROXY: chart value and prod overlay', () => {
  let defaults: K8sObject[];
  let prodExample: K8sObject[];
  let ingressCidrs: K8sObject[];
  beforeAll(async () => {
    [defaults, prodExample, ingressCidrs] = await Promise.all([
      helmTemplate(),
      helmTemplate(['-f', join(repoRoot, 'deploy/helm/examples/values-prod.yaml')]),
      helmTemplate(['--set-string', 'gateway.trustProxy=10.42.0.0/16\\,fd00:42::/64']),
    ]);
  });

  it('gives only the gateway TRUST_PROXY, "false" by default (X-Forwarded-For ignored)', () => {
    expect(gatewayEnv(defaults).TRUST_PROXY).toBe('false');
    for (const d of byKind(defaults, 'Deployment').filter((d) => d.metadata.name !== 'csda-gateway')) {
      expect(env(d.spec.template.spec.containers[0]).TRUST_PROXY, d.metadata.name).toBeUndefined();
    }
  });

  it('passes gateway.trustProxy through as a CIDR list', () => {
    expect(gatewayEnv(ingressCidrs).TRUST_PROXY).toBe('10.42.0.0/16,fd00:42::/64');
    expect(gatewayEnv(prodExample).TRUST_PROXY).toBe('10.42.0.0/16');
  });

  it('refuses a value that is no boolean or address list', async () => {
    for (const bad of ['everyone', '10.0.0.0/8; rm -rf /', '10.0.0.0/8,,10.1.0.0/16']) {
      const res = await helm(['template', 'csda', chartDir, '--set-string', `gateway.trustProxy=${bad.replaceAll(',', '\\,')}`]);
      expect(res.code, bad).not.toBe(0);
      expect(res.stderr, bad).toContain('trustProxy');
    }
  });

  it('sets the ingress CIDR list in the prod overlay, the base keeping "false"', async () => {
    const [base, prod] = await Promise.all([kustomize(join(k8sDir, 'base')), kustomize(join(k8sDir, 'overlays/prod'))]);
    expect(gatewayEnv(base).TRUST_PROXY).toBe('false');
    const value = gatewayEnv(prod).TRUST_PROXY as string;
    expect(value).toBe('10.42.0.0/16');
    for (const entry of value.split(',')) expect(entry).toMatch(/^[0-9a-f.:]+\/\d{1,3}$/);
    // Exactly one TRUST_PROXY entry survives the patch.
    const c = byKind(prod, 'Deployment').find((d) => d.metadata.name === 'csda-gateway').spec.template.spec.containers[0];
    expect(c.env.filter((e: { name: string }) => e.name === 'TRUST_PROXY')).toHaveLength(1);
  });
});
