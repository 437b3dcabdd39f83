import { auditOutboxMessage, type AuditFact, type OutboxMessage, type Subjects } from '@csda/service-kit';
import { secretChangedMessage } from '../secrets/secret-events.ts';
import type { SecretRecord } from '../secrets/secret.types.ts';
import { jobResultMessage, secretRotatedMessage, type JobStatus } from './rotation-events.ts';
import type { RotationRequest } from './rotation.engine.ts';

/** The audit records and events a rotation writes to the outbox, for one request. */
export function createRotationMessages(subjects: Subjects) {
  // A service records only its own actions (the gateway's audit consumer refuses another service as actor):
  // a rotation the scheduler queued is the vault's, with the scheduler as caller.
  const fact = (req: RotationRequest, action: string, details: Record<string, string>, outcome: 'success' | 'failure' = 'success'): AuditFact => {
    const foreign = req.actor.id.startsWith('service:') && req.actor.id !== 'service:vault';
    return {
      action,
      actor: foreign ? 'service:vault' : req.actor.id,
      actorName: foreign ? 'vault' : req.actor.name,
      outcome,
      resourceType: 'secret',
      resourceId: req.secretId,
      ip: req.ip ?? '',
      requestId: req.requestId ?? '',
      details: {
        ...details,
        trigger: req.trigger,
        ...(req.job ? { job_id: req.job.jobId, attempt: String(req.job.attempt) } : {}),
        ...(req.onBehalfOf ? { on_behalf_of: req.onBehalfOf } : {}),
        ...(foreign ? { caller: req.actor.id } : {}),
      },
    };
  };

  /** The job's JobResult (none for on-demand rotations); finished statuses carry finished_at. */
  const jobEvent = (req: RotationRequest, ownerId: string, r: { status: JobStatus; error?: string; detail?: string; nextAttemptAt?: Date }): OutboxMessage[] =>
    req.job
      ? [jobResultMessage(subjects, req.job, { ...r, secretId: req.secretId, ownerId, ...(r.status === 'running' || r.status === 'retrying' ? {} : { finishedAt: new Date() }) })]
      : [];

  /** What a finished rotation writes: its audit record, SecretRotated, the secret's ResourceChanged (`rotated`) and the job's result. */
  const rotated = (req: RotationRequest, secret: SecretRecord, version: number, now: Date): OutboxMessage[] => [
    auditOutboxMessage(subjects, 'vault', fact(req, 'secret_rotated', { version: String(version), strategy: req.suppliedValue ? 'supplied' : secret.rotation.strategy })),
    secretRotatedMessage(subjects, { secretId: secret.id, ownerId: secret.ownerId, version, strategy: secret.rotation.strategy, trigger: req.trigger, at: now }),
    secretChangedMessage(subjects, { id: secret.id, ownerId: secret.ownerId, change: 'rotated' }),
    ...jobEvent(req, secret.ownerId, { status: 'succeeded', detail: `version ${version}` }),
  ];

  return { fact, jobEvent, rotated };
}
