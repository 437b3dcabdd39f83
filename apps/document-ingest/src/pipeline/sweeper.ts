import type { Logger, Subjects } from '@csda/service-kit';
import type { Stage } from '../documents/document.types.ts';
import { stageJob } from './messages.ts';
import type { PipelineRepository } from './pipeline.repository.ts';

/** Re-queues of one stalled version before it fails. */
export const MAX_REQUEUES = 3;

export interface SweepSettings {
  readonly stallMs: number;
  readonly indexTimeoutMs: number;
}

/**
 * Finds versions the queue lost track of — a stage whose job was
 * dead-lettered while the database was away, or whose replica died after
 * JetStream gave up redelivering — and queues the stage again (with a new job
 * id), up to MAX_REQUEUES times, then fails it. A version search never
 * confirmed within the index timeout fails (reindex tries again).
 */
export function createSweeper(deps: { repo: PipelineRepository; subjects: Subjects; kick: () => void; logger: Logger }, settings: SweepSettings) {
  return async function sweep(): Promise<{ requeued: number; failed: number }> {
    let requeued = 0;
    let failed = 0;
    for (const v of await deps.repo.stalled(settings.stallMs, settings.indexTimeoutMs, 100)) {
      const stage: Stage = v.stage ?? 'parse';
      const ids = { document_id: v.document_id, version: v.version, stage };
      if (v.waiting) {
        if (await deps.repo.fail(v.document_id, v.version, 'index', `search did not confirm the index within ${Math.round(settings.indexTimeoutMs / 1000)} s; reindex to try again`)) failed += 1;
        deps.logger.warn(ids, 'search never confirmed the version: failed');
      } else if (v.requeues >= MAX_REQUEUES) {
        if (await deps.repo.fail(v.document_id, v.version, stage, `the ${stage} stage stalled ${MAX_REQUEUES + 1} times; reindex to try again`)) failed += 1;
        deps.logger.warn(ids, 'stage stalled too often: failed');
      } else if (await deps.repo.requeue(v.document_id, v.version, v.requeues, stageJob(deps.subjects, v.document_id, v.version, stage, v.requeues + 1))) {
        requeued += 1;
        deps.logger.warn({ ...ids, requeue: v.requeues + 1 }, 'stalled stage queued again');
      }
    }
    if (requeued + failed > 0) deps.kick();
    return { requeued, failed };
  };
}
