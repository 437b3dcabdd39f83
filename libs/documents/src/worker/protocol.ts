import type { ParseFailureKind } from '../parse-failure.ts';
import type { DocumentFormat, ParseLimits, ParseProgress, ParsedDocument } from '../types.ts';

/** One parse, handed to the worker in `workerData.request` or posted to a started one. */
export interface WorkerRequest {
  format: DocumentFormat;
  /** Exactly one of bytes (transferred) and path. */
  bytes?: Uint8Array;
  path?: string;
  limits: Partial<ParseLimits>;
}

/** What the parse worker posts back. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'progress'; progress: ParseProgress }
  | { type: 'result'; document: ParsedDocument }
  | { type: 'failure'; kind: ParseFailureKind; message: string };
