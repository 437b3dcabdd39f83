import { LATENCY_BUCKETS } from '@csda/service-kit';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { KeywordPlan } from './keyword.query.ts';
import type { VectorPlan } from './vector.query.ts';

/** What the search service reports about its queries. */
export interface QueryMetrics {
  /** One Search answered or failed: the mode asked, the mode that ran, and how it ended. */
  query(labels: { mode: string; ran: string; outcome: 'ok' | 'degraded' | 'error' }, seconds: number): void;
  /** The vector plan chosen for a scope. */
  plan(plan: VectorPlan): void;
  /** The keyword plan chosen for a scope. */
  keywordPlan(plan: KeywordPlan): void;
}

/**
 * Search's Prometheus series: queries by mode and outcome (alert on
 * `degraded`: hybrid answering without vectors), their duration, and the
 * vector and keyword plans chosen. Create once per registry.
 */
export function createQueryMetrics(registry: Registry): QueryMetrics {
  const registers = [registry];
  const total = new Counter({
    name: 'csda_search_queries_total',
    help: 'Search queries by requested mode, the mode that ran (keyword when hybrid degraded) and outcome (ok, degraded, error).',
    labelNames: ['mode', 'ran', 'outcome'],
    registers,
  });
  const duration = new Histogram({ name: 'csda_search_query_duration_seconds', help: 'Search query latency inside the service, by requested mode.', labelNames: ['mode'], buckets: LATENCY_BUCKETS, registers });
  const plans = new Counter({ name: 'csda_search_vector_plans_total', help: 'Vector searches by plan: hnsw (filtered index scan) or exact (the caller sees few chunks).', labelNames: ['plan'], registers });
  const keywordPlans = new Counter({
    name: 'csda_search_keyword_plans_total',
    help: 'Keyword searches by plan: index (GIN rounds over the rarest terms) or scope (every match of the few chunks the caller sees).',
    labelNames: ['plan'],
    registers,
  });
  return {
    query(labels, seconds) {
      total.inc(labels);
      duration.observe({ mode: labels.mode }, seconds);
    },
    plan: (plan) => plans.inc({ plan }),
    keywordPlan: (plan) => keywordPlans.inc({ plan }),
  };
}
