// Offline schema validation of rendered objects with kubernetes-models
// (@kubernetes-models/validate under the hood). Unknown kinds are errors, so a
// new kind in the chart must be added here deliberately.
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { K8sObject } from './render.ts';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

const models: Record<string, ModelClass> = {
  'apps/v1/Deployment': Deployment,
  'batch/v1/CronJob': CronJob,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
};

/** Throws with every problem found (unknown kind or schema violation), naming the object. */
export function validateObjects(objects: readonly K8sObject[]): void {
  const problems: string[] = [];
  for (const obj of objects) {
    const id = `${obj.apiVersion}/${obj.kind}`;
    const Model = models[id];
    if (!Model) {
      problems.push(`${id} ${obj.metadata.name}: unknown kind (add it to deploy/test/validate.ts)`);
      continue;
    }
    try {
      new Model(structuredClone(obj) as never).validate();
    } catch (err) {
      problems.push(`${id} ${obj.metadata.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
}
