// The ops port (/metrics) in the chart: every server, the gateway included, serves it on
// ports.ops; only networkPolicy.prometheusFrom reaches it, never the ingress.
import { beforeAll, describe, expect, it } from 'vitest';
import { byKind, env, type Json } from './checks.ts';
import { chartDir, helm, helmTemplate, type K8sObject } from './render.ts';

const INGRESS = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } };
const MONITORING = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } };

/** Every (policy, rule) admitting traffic to `port` on pods of `component`, with its peers. */
function ingressRulesFor(objects: K8sObject[], component: string, port: number): { policy: string; from: Json[] | undefined }[] {
  const rules: { policy: string; from: Json[] | undefined }[] = [];
  for (const p of byKind(objects, 'NetworkPolicy')) {
    const selector = p.spec.podSelector;
    const labels: Record<string, string> = selector.matchLabels ?? {};
    if (labels['app.kubernetes.io/component'] && labels['app.kubernetes.io/component'] !== component) continue;
    if (labels['csda.io/workload'] && labels['csda.io/workload'] !== 'server') continue;
    const exprs: Json[] = selector.matchExpressions ?? [];
    if (exprs.some((e) => e.key === 'app.kubernetes.io/component' && !e.values.includes(component))) continue;
    for (const rule of p.spec.ingress ?? []) {
      const ports: Json[] | undefined = rule.ports;
      if (ports === undefined || ports.some((x) => x.port === port)) rules.push({ policy: p.metadata.name, from: rule.from });
    }
  }
  return rules;
}

describe('Helm chart: ops port and metrics NetworkPolicy', () => {
  let defaults: K8sObject[];
  let withIngress: K8sObject[];
  beforeAll(async () => {
    [defaults, withIngress] = await Promise.all([helmTemplate(), helmTemplate(['--set-json', `networkPolicy.gatewayIngressFrom=${JSON.stringify([INGRESS])}`])]);
  });

  it('runs the gateway with OPS_PORT, an ops container port and scrape annotations on it', () => {
    for (const d of byKind(defaults, 'Deployment')) {
      const c = d.spec.template.spec.containers[0];
      expect(env(c).OPS_PORT, d.metadata.name).toBe('9090');
      expect(c.ports.find((p: Json) => p.name === 'ops')?.containerPort, d.metadata.name).toBe(9090);
      expect(d.spec.template.metadata.annotations['prometheus.io/port'], d.metadata.name).toBe('9090');
    }
    const gateway = byKind(defaults, 'Deployment').find((d) => d.metadata.name === 'csda-gateway');
    expect(env(gateway.spec.template.spec.containers[0]).GATEWAY_PORT).toBe('8080');
  });

  it('opens the ops port only to the Prometheus peers, and the REST port no longer to them', () => {
    for (const objects of [defaults, withIngress]) {
      const metrics = byKind(objects, 'NetworkPolicy').find((p) => p.metadata.name === 'csda-allow-metrics');
      expect(metrics.spec.ingress).toEqual([{ ports: [{ protocol: 'TCP', port: 9090 }], from: [MONITORING] }]);
      for (const component of ['gateway', 'vault', 'scheduler']) {
        const rules = ingressRulesFor(objects, component, 9090);
        expect(rules.map((r) => r.policy), component).toEqual(['csda-allow-metrics']);
        for (const r of rules) expect(r.from, 'a rule without peers admits every pod').toEqual([MONITORING]);
      }
    }
    // The ingress reaches the gateway's REST port and nothing else.
    const gatewayIngress = ingressRulesFor(withIngress, 'gateway', 8080);
    expect(gatewayIngress).toEqual([{ policy: 'csda-allow-gateway-ingress', from: [INGRESS] }]);
    const ingressPolicy = byKind(withIngress, 'NetworkPolicy').find((p) => p.metadata.name === 'csda-allow-gateway-ingress');
    expect(ingressPolicy.spec.ingress.flatMap((r: Json) => r.ports.map((p: Json) => p.port))).toEqual([8080]);
  });

  it('refuses an empty prometheusFrom (that would mean any pod) and one naming the ingress', async () => {
    const empty = await helm(['template', 'csda', chartDir, '--set-json', 'networkPolicy.prometheusFrom=[]']);
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toMatch(/prometheusFrom/);
    const nulled = await helm(['template', 'csda', chartDir, '--set', 'networkPolicy.prometheusFrom=null']);
    expect(nulled.code).not.toBe(0);
    expect(nulled.stderr).toMatch(/prometheusFrom must name the Prometheus peers/);
    const overlap = await helm([
      'template', 'csda', chartDir,
      '--set-json', `networkPolicy.gatewayIngressFrom=${JSON.stringify([INGRESS])}`,
      '--set-json', `networkPolicy.prometheusFrom=${JSON.stringify([MONITORING, INGRESS])}`,
    ]);
    expect(overlap.code).not.toBe(0);
    expect(overlap.stderr).toMatch(/must not name a gatewayIngressFrom peer/);
  });
});
